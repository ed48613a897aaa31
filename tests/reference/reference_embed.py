#!/usr/bin/env python3
"""Independent fp32 numpy reference for all-MiniLM-L6-v2 paragraph embeddings.

This file does NOT import models/convert_onnx.py: it has its own forward pass
(plain numpy over the weights read with the `safetensors` package's numpy API)
so that it can be used to check the ONNX graph and the Rust side.

Pipeline for one paragraph (the Rust side implements the same rule):
  1. tokenize with `tokenizers` from tokenizer.json with the file's built-in
     truncation (128) and padding DISABLED (tok.no_truncation(); tok.no_padding()),
     add_special_tokens=True -> [CLS] content... [SEP];
  2. content tokens = ids without the leading [CLS] and trailing [SEP]; n = len;
  3. windows of W = 254 content tokens: if n <= 254 one window (start 0);
     else starts 0, 127, 254, ... for every start with start + 254 < n, plus a
     final start n - 254 if it is not already in the list;
  4. each window is encoded as [CLS] + content[start:start+254] + [SEP] (no
     padding, mask all ones), BERT forward -> last hidden states;
  5. window vector = mean of its hidden states over all its tokens (incl. CLS
     and SEP) = sentence-transformers mean pooling;
  6. paragraph vector = sum_w(window_vector_w * count_w) / sum_w(count_w), with
     count_w = window token count incl. CLS/SEP; then L2-normalised.

Usage (from the repo root, after `bash models/fetch`):
  models/.venv/bin/python tests/reference/reference_embed.py
      writes tests/golden/reference_embeddings.json and prints sanity cosines
  models/.venv/bin/python tests/reference/reference_embed.py --sanity-only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_DIR = REPO / "models" / "minilm"
DEFAULT_OUT = REPO / "tests" / "golden" / "reference_embeddings.json"

HIDDEN = 384
HEADS = 12
HEAD_DIM = 32
LAYERS = 6
EPS = np.float32(1e-12)
WINDOW = 254  # content tokens per window (+ [CLS] + [SEP] = 256)
STRIDE = 127
CLS_ID = 101
SEP_ID = 102


# ---------------------------------------------------------------- model ----
def load_tokenizer(model_dir: Path = DEFAULT_MODEL_DIR) -> Tokenizer:
    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def load_weights(model_dir: Path = DEFAULT_MODEL_DIR) -> dict[str, np.ndarray]:
    w = load_file(str(Path(model_dir) / "model.safetensors"))
    w = {(k[5:] if k.startswith("bert.") else k): v for k, v in w.items()}
    return {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in w.items()}


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True, dtype=np.float32)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True, dtype=np.float32)
    return (xc / np.sqrt(var + EPS)) * g + b


_erf64 = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x: np.ndarray) -> np.ndarray:
    # exact erf GELU; erf itself evaluated in float64 and rounded back to fp32
    return (x * np.float32(0.5)) * (np.float32(1.0) + _erf64(x.astype(np.float64) / math.sqrt(2.0)).astype(np.float32))


def _dense(w: dict, name: str, x: np.ndarray) -> np.ndarray:
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def _softmax(s: np.ndarray) -> np.ndarray:
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def forward(w: dict[str, np.ndarray], ids) -> np.ndarray:
    """BERT encoder over ONE unpadded sequence (all tokens real). -> [S, 384] fp32."""
    ids = np.asarray(ids, dtype=np.int64)
    s = ids.shape[0]
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][0]
    x = x + w["embeddings.position_embeddings.weight"][:s]
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    scale = np.float32(math.sqrt(HEAD_DIM))
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        q = _dense(w, p + "attention.self.query", x).reshape(s, HEADS, HEAD_DIM).transpose(1, 0, 2)
        k = _dense(w, p + "attention.self.key", x).reshape(s, HEADS, HEAD_DIM).transpose(1, 2, 0)
        v = _dense(w, p + "attention.self.value", x).reshape(s, HEADS, HEAD_DIM).transpose(1, 0, 2)
        probs = _softmax((q @ k) / scale)                     # [h, S, S]
        ctx = (probs @ v).transpose(1, 0, 2).reshape(s, HIDDEN)
        x = _layer_norm(_dense(w, p + "attention.output.dense", ctx) + x,
                        w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
        h = _gelu(_dense(w, p + "intermediate.dense", x))
        x = _layer_norm(_dense(w, p + "output.dense", h) + x,
                        w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    assert x.dtype == np.float32
    return x


# ------------------------------------------------------------ windowing ----
def window_starts(n: int) -> list[int]:
    if n <= WINDOW:
        return [0]
    starts = []
    st = 0
    while st + WINDOW < n:
        starts.append(st)
        st += STRIDE
    if n - WINDOW not in starts:
        starts.append(n - WINDOW)
    return starts


def content_ids(tok: Tokenizer, text: str) -> list[int]:
    ids = tok.encode(text, add_special_tokens=True).ids
    assert ids[0] == CLS_ID and ids[-1] == SEP_ID, ids[:3]
    return ids[1:-1]


def embed_paragraph(tok: Tokenizer, w: dict, text: str):
    """-> (unit vector [384] float64, window starts, n content tokens, content ids)."""
    content = content_ids(tok, text)
    starts = window_starts(len(content))
    acc = np.zeros(HIDDEN, dtype=np.float64)
    total = 0
    for st in starts:
        win = [CLS_ID] + content[st : st + WINDOW] + [SEP_ID]
        h = forward(w, win)
        mean = h.mean(axis=0, dtype=np.float32)       # ST mean pooling (mask all 1)
        acc += mean.astype(np.float64) * len(win)
        total += len(win)
    vec = acc / total
    vec /= np.linalg.norm(vec)
    return vec, starts, len(content), content


# ---------------------------------------------------------------- texts ----
# All paragraphs below were written for this file (no copied articles).
LONG_1 = (
    "After nearly eleven hours behind closed doors, the two delegations emerged from the lakeside conference "
    "centre on Thursday evening without a signed document but with what one mediator called a shared map of "
    "the remaining disagreements. The talks, the fourth round since the spring, had been billed as a technical "
    "meeting on prisoner exchanges and the reopening of grain corridors, yet officials on both sides admitted "
    "that the conversation kept drifting back to the harder questions of borders, security guarantees and the "
    "sequencing of any withdrawal. A senior diplomat who asked not to be named said the negotiators had agreed "
    "on a timetable for exchanging lists of detained civilians and on a joint commission to monitor shelling "
    "near the nuclear plant, but that neither side was prepared to discuss territory until the other moved "
    "first. Critics at home accused the government of rewarding aggression by returning to the table at all, "
    "while a coalition of veterans' groups warned that a frozen conflict would only postpone the next war. "
    "Supporters of the process pointed to the humanitarian gains: more than four hundred families have been "
    "reunited since the previous round, and the number of attacks on energy infrastructure has fallen for "
    "three consecutive weeks. Economists noted that bond yields eased slightly on the news, reflecting cautious "
    "hopes that a ceasefire could allow reconstruction to begin before winter. The mediators, drawn from two "
    "neutral states and an international organisation, said they would circulate a draft framework within ten "
    "days and invite the parties to respond in writing. Asked whether a leaders' summit was possible before the "
    "end of the year, the chief mediator smiled and replied that summits are the last step, not the first, and "
    "that the hardest work is always done by tired people reading footnotes at two in the morning. Opinion "
    "polls published the same day suggested that public support for negotiations had risen modestly, although "
    "a large majority still rejected any settlement that would formally cede land. Analysts cautioned that "
    "such numbers can change quickly after a single missile strike or battlefield setback, and that leaders "
    "on both sides remain under pressure from hardliners who see compromise as surrender."
)

LONG_2 = (
    "My grandmother kept a vegetable garden behind the house for more than forty years, and every spring she "
    "began the season in exactly the same way. First she walked the length of each bed with a wooden stick, "
    "pressing it into the soil to see how far it would sink, because she believed that the ground would tell "
    "you when it was ready if you only had the patience to ask. Then she spread a thin layer of compost from "
    "the heap by the fence, a heap she turned every Sunday with a fork that had belonged to her father. The "
    "potatoes went in first, cut into pieces with at least two eyes each and left to dry on newspaper for a "
    "day so they would not rot. Onions and garlic followed, then peas along a net of string tied between two "
    "old broom handles. She never bought seedlings; tomatoes and peppers were started on the kitchen windowsill "
    "in yoghurt pots, and the whole house smelled faintly of damp earth from February until May. When the "
    "weather turned warm she moved the pots outside during the day and carried them back every evening, a "
    "ritual she called teaching them to be brave. Cucumbers were her pride. She grew a small, bumpy variety "
    "whose seeds she had saved from year to year, and she pickled them in large glass jars with dill, "
    "horseradish leaves, cherry leaves and far more garlic than any recipe suggested. The jars stood in the "
    "cellar in neat rows, each labelled with the date in her careful handwriting, and we were allowed to open "
    "one only on special occasions. Beans climbed the south wall, beetroot filled the corner where the sun was "
    "weakest, and a row of marigolds ran along the path because, she said, they kept the pests confused. In "
    "late summer the kitchen turned into a small factory: plums became jam, apples became dried rings threaded "
    "on string, and the last green tomatoes were wrapped in paper and left to ripen slowly on top of the "
    "wardrobe. Nothing was wasted. Peelings went back to the heap, seeds were dried on saucers, and the stalks "
    "were chopped and dug into the beds before the first frost, so that the whole cycle could begin again."
)

LONG_3 = (
    "Quarterly report, section 4: Operations and logistics. In the third quarter the company handled 1,284,500 "
    "parcels across 37 regional depots, an increase of 6.2% compared with the same period last year and 2.9% "
    "above the internal forecast. Average delivery time fell from 41.5 hours to 38.7 hours, mainly because the "
    "new sorting hub near the motorway junction reached full capacity in August. The share of deliveries "
    "completed on the first attempt rose to 91.4%, while customer complaints per 10,000 parcels dropped from "
    "12.3 to 9.8. Fuel costs remained volatile: diesel prices peaked at 1.87 EUR per litre in July before "
    "easing to 1.71 EUR in September, and the electric van pilot (24 vehicles in two cities) saved an estimated "
    "EUR 58,000 in energy and maintenance. Staff turnover in warehouse roles was 14% on an annualised basis, "
    "down from 19%, which management attributes to the revised shift patterns introduced on 1 June and to the "
    "new bonus scheme. Two safety incidents were reported, neither resulting in lost working days. Capital "
    "expenditure for the quarter totalled EUR 3.4 million, of which 2.1 million went to conveyor upgrades, "
    "0.8 million to vehicles and the remainder to software licences and training. The board approved a budget "
    "of EUR 5.0 million for the fourth quarter, including the first phase of a cold-chain facility for "
    "pharmaceutical clients. Risks for the coming months include a possible strike at the port of entry, "
    "higher insurance premiums after the spring floods, and the planned changes to road tolls from 1 January. "
    "Key performance indicators will be reviewed again at the meeting scheduled for 14 November, 10:00, "
    "conference room B (2nd floor), and all depot managers are asked to submit their updated headcount figures "
    "no later than 7 November. Table 4.3 (not reproduced here) lists depot-level volumes; the five largest "
    "depots together processed 512,900 parcels, or roughly 39.9% of the total. Preliminary figures for October "
    "indicate continued growth of around 4-5%, although seasonal peaks in December usually distort comparisons."
)

LONG_4 = (
    "Депутати знову обговорювали можливі мирні переговори, але жодного рішення не ухвалили. "
    "Представник уряду заявив, що будь-яка угода має враховувати безпекові гарантії та повернення "
    "полонених. Опозиція наполягала на публічному звіті про хід консультацій. "
    "Meanwhile, in the capital, journalists waited outside the ministry for a statement that never came. "
    "A spokeswoman said only that contacts were continuing \"at the level of experts\" and that no date had "
    "been set for a new meeting. Observers noted that the language of both governments had softened in recent "
    "weeks: words such as \"capitulation\" and \"ultimatum\" appeared less often in official speeches, while "
    "phrases like \"durable peace\" and \"step-by-step de-escalation\" were used more frequently. "
    "Économistes et diplomates restent prudents: la reconstruction coûterait des centaines de milliards d'euros "
    "et aucun accord ne tiendra sans mécanisme de vérification. Straßenumfragen in der Hauptstadt zeigten ein "
    "gemischtes Bild; viele Menschen wünschen sich Frieden, aber nicht um jeden Preis. "
    "Громадські організації закликали не забувати про долю зниклих безвісти та депортованих дітей. "
    "The next round, if it happens, is expected to focus on humanitarian issues first, with political questions "
    "left for later, an approach that supporters call realistic and critics call a way of avoiding the real "
    "problems. In a televised interview late on Sunday, a former negotiator argued that every lasting ceasefire "
    "in recent decades began with small, verifiable steps: exchanging the bodies of the fallen, opening a "
    "single checkpoint for pensioners, agreeing on a telephone line between commanders. \"Trust is not "
    "declared,\" she said, \"it is accumulated.\""
)

# a plain filler prose used to build paragraphs of an exact token length
_FILLER = (
    "the committee met again on monday and the members spoke about the budget the schools the roads and the "
    "water supply for the next year while the people in the hall listened and some of them asked questions "
    "about the new bus line the old bridge the library hours and the price of bread in the market and the "
    "chair said that every answer would be written down and sent to each house before the end of the month "
)


def _exact_tokens(tok: Tokenizer, target: int) -> str:
    """Deterministic filler paragraph with exactly `target` content tokens."""
    words = (_FILLER * 20).split()
    out: list[str] = []
    for word in words:
        if len(content_ids(tok, " ".join(out + [word]))) > target:
            break
        out.append(word)
    while len(content_ids(tok, " ".join(out))) < target:
        out.append("and")
    text = " ".join(out)
    assert len(content_ids(tok, text)) == target, target
    return text


TEXTS = [
    # peace talks / news-like
    "Negotiators from both sides met in Geneva on Tuesday to discuss a possible ceasefire.",
    "Peace talks resumed after a three-month pause, with delegations seeking an end to the fighting.",
    "The foreign minister said a negotiated settlement was the only realistic way to stop the war.",
    "Officials warned that any agreement freezing the front line would reward the aggressor.",
    "Mediators proposed a prisoner exchange as a first confidence-building step.",
    "The president rejected calls for territorial concessions, saying the country would not trade land for peace.",
    "A leaked draft of the framework agreement mentions security guarantees but no timetable for withdrawal.",
    "Hundreds of protesters gathered outside parliament demanding that the government keep fighting.",
    "Diplomats described the atmosphere in the room as constructive but tense.",
    "The ceasefire collapsed within hours as both armies accused each other of shelling civilian areas.",
    "Humanitarian corridors opened on Friday morning, allowing about 2,000 civilians to leave the besieged city.",
    "Analysts say a lasting peace will require international monitors along the entire demarcation line.",
    "\"We are ready to talk, but not at gunpoint,\" the delegation head told reporters.",
    "The summit ended without a joint communiqué; a follow-up meeting is planned for next month.",
    "Critics called the talks a propaganda exercise designed to buy time for rearmament.",
    "Grain exports through the Black Sea resumed after the sides agreed on inspection procedures.",
    "Some lawmakers argued that sanctions should be eased only after a verified withdrawal of troops.",
    "The UN envoy urged all parties to return to the negotiating table without preconditions.",
    # unrelated topics
    "The bakery on the corner sells fresh rye bread every morning.",
    "Our cat refuses to eat anything except tuna on Sundays.",
    "The new smartphone has a larger battery and a slightly heavier frame.",
    "Heavy rain is expected across the north of the country over the weekend.",
    "The museum's impressionist collection will be closed for renovation until spring.",
    "She finished the marathon in 3 hours, 12 minutes and 40 seconds.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The football club announced the signing of a 19-year-old striker from Brazil.",
    "To reset the router, hold the button on the back for ten seconds.",
    "Mix the flour and butter until the dough resembles coarse breadcrumbs.",
    "The quarterly earnings beat analysts' expectations, sending the shares up 8%.",
    "A rare comet will be visible to the naked eye just after sunset next week.",
    # very short
    "Comments",
    "Share",
    "Advertisement",
    "Read more",
    "Photo: Reuters",
    "OK",
    "Peace.",
    "War",
    "Yes!",
    "Updated 14:35",
    # punctuation, numbers, quotes, symbols
    "...",
    "?!",
    "— — —",
    "1 2 3 4 5 6 7 8 9 10",
    "3.14159, 2.71828 and 1.41421 are famous constants.",
    "Tel. +380 44 123 45 67; e-mail: press@example.org",
    "On 24/02/2022 at 05:00 (UTC+2) everything changed.",
    "'Single quotes', \"double quotes\", «guillemets» and „low quotes“.",
    "Price: $1,299.99 (-15%) — was €1 529,00!",
    "#peace #talks @newsdesk https://example.com/article?id=42&lang=en",
    "ALL CAPS HEADLINE: TALKS COLLAPSE AGAIN",
    "   leading and trailing spaces   ",
    "tab\tseparated\tvalues\nand a newline",
    # accents, Cyrillic, Ukrainian, other scripts
    "Café, naïve, résumé, façade, Zürich, São Paulo, Kraków.",
    "Мирні переговори відновилися у Женеві після тримісячної перерви.",
    "Україна наполягає на повному виведенні військ перед підписанням угоди.",
    "Переговоры о прекращении огня снова зашли в тупик.",
    "Київ, Львів, Харків, Одеса, Дніпро — міста, які пережили обстріли.",
    "Les négociations de paix ont repris à Genève mardi.",
    "Die Friedensgespräche wurden nach drei Monaten wieder aufgenommen.",
    "Negocjacje pokojowe zostały wznowione po trzech miesiącach przerwy.",
    "和平谈判在日内瓦恢复。",
    "Emoji test 🙂🕊️ peace ✌️",
    "Ґанок, їжак, є, ї — українські літери.",
    # long paragraphs (windowing)
    LONG_1,
    LONG_2,
    LONG_3,
    LONG_4,
    LONG_1 + " " + LONG_2,
]

# exact-length edge cases of the windowing rule, built at run time from _FILLER
EXACT_LENGTHS = [254, 255, 381, 508]


def all_texts(tok: Tokenizer) -> list[str]:
    return TEXTS + [_exact_tokens(tok, n) for n in EXACT_LENGTHS]


# --------------------------------------------------------------- sanity ----
SANITY_PAIRS = [
    ("related (peace talks)",
     "Negotiators from both sides met in Geneva on Tuesday to discuss a possible ceasefire.",
     "Peace talks resumed after a three-month pause, with delegations seeking an end to the fighting."),
    ("related (peace talks)",
     "The UN envoy urged all parties to return to the negotiating table without preconditions.",
     "Mediators proposed a prisoner exchange as a first confidence-building step."),
    ("related (peace talks)",
     "The ceasefire collapsed within hours as both armies accused each other of shelling civilian areas.",
     "The truce broke down almost at once, with each side blaming the other for shelling towns."),
    ("unrelated",
     "Negotiators from both sides met in Geneva on Tuesday to discuss a possible ceasefire.",
     "The bakery on the corner sells fresh rye bread every morning."),
    ("unrelated",
     "Peace talks resumed after a three-month pause, with delegations seeking an end to the fighting.",
     "To reset the router, hold the button on the back for ten seconds."),
]


def sanity(tok: Tokenizer, w: dict) -> list[tuple[str, str, str, float]]:
    rows = []
    for label, a, b in SANITY_PAIRS:
        va, *_ = embed_paragraph(tok, w, a)
        vb, *_ = embed_paragraph(tok, w, b)
        rows.append((label, a, b, float(va @ vb)))
    return rows


def _round7(x: float) -> float:
    return float(f"{x:.7g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--sanity-only", action="store_true", help="only print the cosine sanity check")
    a = ap.parse_args()

    tok = load_tokenizer(a.model_dir)
    w = load_weights(a.model_dir)

    rows = sanity(tok, w)
    for label, x, y, c in rows:
        print(f"cosine {c:.4f}  {label}: {x!r} vs {y!r}")
    rel = min(c for l, *_, c in rows if l.startswith("related"))
    unrel = max(c for l, *_, c in rows if l == "unrelated")
    print(f"sanity: min related {rel:.4f} > max unrelated {unrel:.4f}: {'OK' if rel > unrel else 'FAILED'}")
    if rel <= unrel:
        sys.exit(1)
    if a.sanity_only:
        return

    model_sha = hashlib.sha256((a.model_dir / "model.safetensors").read_bytes()).hexdigest()
    items = []
    for i, text in enumerate(all_texts(tok)):
        vec, starts, n, content = embed_paragraph(tok, w, text)
        items.append({
            "text": text,
            "windows": len(starts),
            "n_tokens": n,
            "window_starts": starts,
            "token_ids": [CLS_ID] + content + [SEP_ID],
            "embedding": [_round7(v) for v in vec.tolist()],
        })
        print(f"[{i + 1:2d}] n_tokens={n:4d} windows={len(starts)} starts={starts}  {text[:50]!r}", file=sys.stderr)

    doc = {
        "note": (
            "Produced by tests/reference/reference_embed.py (independent fp32 numpy forward pass of "
            "sentence-transformers/all-MiniLM-L6-v2 over models/minilm/model.safetensors). Exact command, from the "
            "repo root after `bash models/fetch`: models/.venv/bin/python tests/reference/reference_embed.py . "
            "Tokenizer: models/minilm/tokenizer.json via the `tokenizers` package with no_truncation() and "
            "no_padding(), add_special_tokens=True. n_tokens = number of content tokens (without [CLS]/[SEP]); "
            "token_ids = the full unwindowed encoding [CLS] content [SEP]. Windows: 254 content tokens + "
            "[CLS] + [SEP]; if n <= 254 one window, else starts 0,127,254,... while start+254 < n, plus n-254 if "
            "not already present (window_starts). Each window: mean of last hidden states over all its tokens "
            "(incl. CLS/SEP); paragraph = token-count-weighted mean of window means, then L2-normalised. "
            "Embedding values rounded to 7 significant digits. The last four items are filler paragraphs of "
            "exactly 254, 255, 381 and 508 content tokens (windowing edge cases)."
        ),
        "model_sha256": model_sha,
        "window_content_tokens": WINDOW,
        "window_stride": STRIDE,
        "items": items,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(a.out.name + ".tmp")
    # one item per line: readable and diff-friendly
    head = {k: v for k, v in doc.items() if k != "items"}
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    lines.append(' "items": [')
    lines += [f"  {json.dumps(it, ensure_ascii=False)}" + ("," if i + 1 < len(items) else "") for i, it in enumerate(items)]
    lines += [" ]", "}"]
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == doc
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(a.out)
    print(f"wrote {a.out} ({len(items)} items)", file=sys.stderr)


if __name__ == "__main__":
    main()
