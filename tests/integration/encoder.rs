//! The encoder against an independent numpy reference, and batching that changes nothing.

use stancemeter::encode::{cosine, Encoder, EncoderOptions, OnnxOptions};

use crate::common::{assert_batch_invariant, assets, golden};

fn encoder(batch_size: usize) -> Encoder {
    let options = EncoderOptions::default().with_batch_size(batch_size);
    Encoder::load(&assets(), &OnnxOptions::default(), options).expect("load encoder")
}

#[test]
fn onnx_embeddings_match_the_numpy_reference() {
    let golden = golden();
    assert!(golden.items.len() >= 50);
    let assets = assets();
    assert_eq!(Some(golden.model_sha256.as_str()), assets.sha256_of("minilm/model.safetensors"));
    let texts: Vec<&str> = golden.items.iter().map(|i| i.text.as_str()).collect();
    let got = encoder(32).embed(&texts).expect("embed");
    let mut worst = (1.0f32, "");
    for (item, e) in golden.items.iter().zip(&got) {
        let c = cosine(&item.embedding, &e.vector);
        if c < worst.0 {
            worst = (c, &item.text);
        }
        assert_eq!(e.windows, item.windows, "windows for {:?}", &item.text[..item.text.len().min(60)]);
    }
    assert!(worst.0 >= 0.9999, "lowest cosine {} for {:?}", worst.0, worst.1);
    assert!(golden.items.iter().any(|i| i.windows > 1), "golden set must exercise windowing");
}

#[test]
fn related_paragraphs_are_closer_than_unrelated_ones() {
    let texts = [
        "Negotiators from Moscow and Kyiv met in Istanbul to discuss a ceasefire.",
        "Russian and Ukrainian delegations held peace talks in Turkey.",
        "The recipe calls for two cups of flour and a pinch of salt.",
    ];
    let e = encoder(32).embed(&texts).expect("embed");
    let related = cosine(&e[0].vector, &e[1].vector);
    let unrelated = cosine(&e[0].vector, &e[2].vector);
    assert!(related > 0.5 && unrelated < 0.2 && related > unrelated + 0.4, "related {related}, unrelated {unrelated}");
}

#[test]
fn batch_size_and_batch_company_do_not_change_embeddings() {
    assert_batch_invariant(encoder);
}

#[test]
fn empty_and_odd_paragraphs_embed_without_error() {
    let texts = ["", "   ", "…", "Україна", "123 456", &"word ".repeat(2000)];
    let e = encoder(8).embed(&texts).expect("embed");
    assert_eq!(e.len(), texts.len());
    assert_eq!(e[0].windows, 1);
    assert!(e[5].windows > 10, "{} windows", e[5].windows);
    for v in &e {
        let norm: f32 = v.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
}
