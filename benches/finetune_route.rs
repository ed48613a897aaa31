//! Fine-tuning route measurement (issue #14): seconds per training step of full fine-tuning
//! (every encoder weight trains) on libtorch through rust-bert's `BertModel` on a trainable
//! `VarStore`, on the same paragraphs and batches as `stancemeter train --finetune full
//! --epochs 1` on a small file (the candle route, which is what ships). Needs the rust-bert
//! feature:
//!
//!   models/with-libtorch cargo bench --features rust-bert --bench finetune_route -- FILE.jsonl [THREADS]
//!
//! Prints seconds per paragraph over all batches after the first (warm-up).

use std::io::BufRead;

use rust_bert::bert::{BertConfig, BertEmbeddings, BertModel};
use tch::nn::{self, Module, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let file = args.first().ok_or("usage: finetune_route FILE.jsonl [THREADS]")?;
    let threads: i32 = args.get(1).map(|t| t.parse()).transpose()?.unwrap_or(2);
    tch::set_num_threads(threads);
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let tokenizer = tokenizers::Tokenizer::from_file(models.join("minilm/tokenizer.json"))?;
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(file)?).lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        texts.push(v["text"].as_str().unwrap_or_default().to_string());
        labels.push(["optimistic", "neutral", "skeptical"].iter().position(|l| v["label"] == *l).unwrap_or(1) as i64);
    }
    // First window only ([CLS], at most 254 tokens, [SEP]): the small file's paragraphs fit one.
    let mut windows: Vec<Vec<u32>> = Vec::new();
    for text in &texts {
        let ids = tokenizer.encode(text.as_str(), false)?.get_ids().to_vec();
        let mut window = vec![101];
        window.extend(ids.iter().take(254));
        window.push(102);
        windows.push(window);
    }

    let config: BertConfig = serde_json::from_str(&std::fs::read_to_string(models.join("minilm/config.json"))?)?;
    let mut store = VarStore::new(Device::Cpu);
    let model = BertModel::<BertEmbeddings>::new_with_optional_pooler(store.root(), &config, false);
    let head = nn::linear(store.root() / "head", 384, 3, Default::default());
    store.load_partial(models.join("minilm/model.safetensors"))?;
    let mut opt = nn::AdamW::default().build(&store, 1e-4)?;

    // Same batching as the candle trainer: longest first, 16 paragraphs.
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(windows[i].len()));
    let mut times = Vec::new();
    for chunk in order.chunks(16) {
        let len = chunk.iter().map(|&i| windows[i].len()).max().unwrap_or(1);
        let mut ids = vec![0i64; chunk.len() * len];
        let mut mask = vec![0i64; chunk.len() * len];
        for (r, &i) in chunk.iter().enumerate() {
            for (c, &t) in windows[i].iter().enumerate() {
                ids[r * len + c] = i64::from(t);
                mask[r * len + c] = 1;
            }
        }
        let shape = [chunk.len() as i64, len as i64];
        let ids = Tensor::from_slice(&ids).view(shape);
        let mask = Tensor::from_slice(&mask).view(shape);
        let y = Tensor::from_slice(&chunk.iter().map(|&i| labels[i]).collect::<Vec<_>>());
        let started = std::time::Instant::now();
        let out = model.forward_t(Some(&ids), Some(&mask), None, None, None, None, None, false)?;
        let m = mask.to_kind(Kind::Float).unsqueeze(-1);
        let pooled = (out.hidden_state * &m).sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            / m.sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        let norm = &pooled / pooled.square().sum_dim_intlist([1i64].as_slice(), true, Kind::Float).sqrt();
        let loss = head.forward(&(norm * 19.6)).cross_entropy_for_logits(&y);
        opt.backward_step(&loss);
        times.push((started.elapsed().as_secs_f64(), chunk.len()));
    }
    let (secs, n) = times.iter().skip(1).fold((0.0, 0), |(s, n), (t, k)| (s + t, n + k));
    println!("tch full fine-tuning: {:.4} s/paragraph over {n} paragraphs ({threads} threads)", secs / n.max(1) as f64);
    Ok(())
}
