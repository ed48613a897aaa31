"""Port of src/segment.rs::classify (furniture detection)."""
BOILERPLATE_EXACT = ["comments","comment","post a comment","leave a comment","add a comment","share","share this",
 "share this article","share this story","advertisement","sponsored","related","related articles","related stories",
 "read more","more on this story","most read","recommended","subscribe","sign up","follow us","print","email",
 "listen to this article","skip advertisement"]
BOILERPLATE_PREFIX = ["read more:","read also:","related:","see also:","sign up for","sign up to","subscribe to",
 "subscribe for","copyright","©","(c) ","all rights reserved","this story has been updated",
 "this article has been updated","this story was updated","editor's note","editor’s note","correction:","click here",
 "follow us on","download our app","get our newsletter"]
CAPTION_MARKERS = ["[photo","(photo","photo:","photograph:","photo credit","image:","picture:","credit:","getty images",
 "ap photo","/afp","/reuters","/pool","pool/","[video","(video)","[image"]
def classify(text):
    t = text.strip(); lower = t.lower()
    if t.startswith('!['): return 'caption'
    bare = lower.rstrip(":.! |»›>").strip()
    if not any(c.isalpha() for c in t) or bare in BOILERPLATE_EXACT or any(lower.startswith(p) for p in BOILERPLATE_PREFIX):
        return 'boilerplate'
    if t.endswith('|') or any(m in lower for m in CAPTION_MARKERS): return 'caption'
    words = len(t.split())
    bylines = ["reporting by", "writing by", "editing by", "additional reporting", "compiled by"]
    if (t.startswith('By ') and words <= 12 and not t.endswith('.')) or any(lower.startswith(b) for b in bylines):
        return 'byline'
    ends = tuple(['.', '!', '"', '”', "'", '’', '…', ')', ';', ','])
    if words <= 8 and not t.endswith(ends) and not (t.endswith('?') and words > 6): return 'heading'
    return 'content'
