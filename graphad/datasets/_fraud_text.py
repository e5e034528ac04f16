"""Review text for the synthetic fraud network: a compositional vocabulary.

Reviews are assembled from an opener, one to three body sentences drawn from many
templates, and an optional closer. Slots are filled from per-category product nouns,
aspects, use contexts and sentiment words, so two reviews about the same category
share a topic but rarely a sentence. Surface noise (lower-casing, typos, chat
abbreviations, repeated punctuation) is applied afterwards.

Everything is driven by a ``numpy.random.Generator`` passed in by the caller; there is
no module-level randomness.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

# Index k of this tuple is category k everywhere in the generator (and digit class k
# in the profile photos).
CATEGORIES = ("electronics", "fashion", "groceries", "travel", "gaming", "beauty",
              "home_garden", "sports", "books", "luxury")

# ----------------------------------------------------------------------------- vocab
NOUNS: Dict[str, Sequence[str]] = {
    "electronics": ("laptop", "phone charger", "bluetooth speaker", "smartwatch",
                    "tablet", "usb-c hub", "monitor", "wireless mouse", "power bank",
                    "noise cancelling headset", "router", "webcam", "mechanical keyboard",
                    "phone"),
    "fashion": ("jacket", "pair of jeans", "summer dress", "hoodie", "pair of sneakers",
                "leather belt", "wool scarf", "t-shirt", "raincoat", "pair of boots",
                "linen shirt", "skirt", "denim jacket"),
    "groceries": ("box of cereal", "bag of coffee beans", "bottle of olive oil",
                  "pack of pasta", "loaf of sourdough", "carton of oat milk",
                  "veggie box", "jar of honey", "bag of apples", "pack of chicken thighs",
                  "tub of yogurt", "bag of rice", "dozen eggs"),
    "travel": ("flight", "hotel room", "rental car", "train ticket", "city tour",
               "suitcase", "beach resort stay", "airport transfer", "ferry crossing",
               "hostel bed", "weekend package", "cabin on the cruise"),
    "gaming": ("game", "controller", "gaming headset", "season pass", "console",
               "expansion pack", "gaming chair", "steam gift card", "dlc bundle",
               "racing wheel", "in-game currency pack", "retro handheld"),
    "beauty": ("face serum", "lipstick", "moisturizer", "shampoo", "perfume",
               "eyeshadow palette", "sunscreen", "hair dryer", "nail polish set",
               "cleansing balm", "mascara", "night cream"),
    "home_garden": ("sofa cushion", "garden hose", "table lamp", "set of pans",
                    "bed sheet set", "cordless drill", "flower pot", "vacuum cleaner",
                    "bookshelf", "lawn mower", "kitchen knife", "coffee table",
                    "pack of seeds"),
    "sports": ("pair of running shoes", "yoga mat", "set of dumbbells", "bike helmet",
               "tennis racket", "gym bag", "football", "fitness tracker",
               "swim goggles", "resistance band set", "hiking backpack",
               "protein powder tub"),
    "books": ("novel", "cookbook", "biography", "children's book", "thriller",
              "poetry collection", "textbook", "graphic novel", "audiobook",
              "travel guide", "box set", "fantasy paperback"),
    "luxury": ("designer handbag", "watch", "diamond ring", "silk scarf",
               "pair of designer sunglasses", "gold bracelet", "cashmere coat",
               "limited edition sneaker", "fountain pen", "bottle of vintage champagne",
               "pearl necklace", "leather briefcase"),
}

ASPECTS: Dict[str, Sequence[str]] = {
    "electronics": ("battery life", "screen", "build quality", "sound", "charging speed",
                    "connectivity", "software", "setup"),
    "fashion": ("fit", "fabric", "stitching", "colour", "sizing", "cut", "material"),
    "groceries": ("freshness", "taste", "packaging", "expiry date", "portion size",
                  "flavour", "quality of the produce"),
    "travel": ("check-in", "location", "legroom", "staff", "cleanliness", "view",
               "booking process", "breakfast"),
    "gaming": ("frame rate", "story", "multiplayer", "controls", "graphics",
               "load times", "matchmaking", "replay value"),
    "beauty": ("scent", "texture", "shade", "finish", "packaging", "lasting power",
               "ingredients"),
    "home_garden": ("assembly", "sturdiness", "finish", "size", "material", "motor",
                    "instructions"),
    "sports": ("grip", "cushioning", "weight", "durability", "fit", "padding",
               "breathability"),
    "books": ("plot", "writing", "characters", "ending", "translation", "print quality",
              "pacing", "illustrations"),
    "luxury": ("craftsmanship", "leather", "finish", "packaging", "authenticity card",
               "detailing", "clasp", "presentation box"),
}

USES: Dict[str, Sequence[str]] = {
    "electronics": ("for working from home", "for my commute", "for the home office",
                    "for video calls", "for university"),
    "fashion": ("for a wedding", "for the office", "for autumn", "for a night out",
                "for everyday wear"),
    "groceries": ("for the week", "for a family dinner", "for meal prep",
                  "for the kids' lunchboxes", "for a barbecue"),
    "travel": ("for our honeymoon", "for a business trip", "for a weekend away",
               "for the family holiday", "for a conference"),
    "gaming": ("for my son's birthday", "for the weekend", "for online matches",
               "for couch co-op", "for streaming"),
    "beauty": ("for dry skin", "for the summer", "for sensitive skin",
               "as a gift for my mum", "for daily use"),
    "home_garden": ("for the new flat", "for the backyard", "for the kitchen",
                    "for the guest room", "for the balcony"),
    "sports": ("for marathon training", "for the gym", "for weekend hikes",
               "for yoga class", "for cycling to work"),
    "books": ("for book club", "for the beach", "for my daughter", "for the long flight",
              "for a rainy weekend"),
    "luxury": ("for our anniversary", "as a birthday treat", "for myself after a promotion",
               "for a gala dinner", "as an engagement gift"),
}

POS_ADJ = ("great", "excellent", "fantastic", "solid", "really good", "superb",
           "impressive", "lovely", "top notch", "perfect", "amazing", "better than expected")
NEG_ADJ = ("poor", "disappointing", "cheap", "flimsy", "terrible", "awful",
           "not as described", "mediocre", "worse than expected", "broken", "useless")
MIX_ADJ = ("ok", "fine", "average", "decent", "acceptable", "nothing special")

CAT_POS = {
    "electronics": ("fast", "responsive", "crisp", "reliable"),
    "fashion": ("comfy", "stylish", "flattering", "soft"),
    "groceries": ("fresh", "tasty", "delicious", "well packed"),
    "travel": ("spotless", "relaxing", "on time", "stunning"),
    "gaming": ("addictive", "smooth", "immersive", "fun"),
    "beauty": ("gentle", "long lasting", "silky", "glowing"),
    "home_garden": ("sturdy", "cosy", "easy to assemble", "practical"),
    "sports": ("lightweight", "supportive", "durable", "comfortable"),
    "books": ("gripping", "beautifully written", "moving", "hard to put down"),
    "luxury": ("exquisite", "elegant", "timeless", "flawless"),
}
CAT_NEG = {
    "electronics": ("laggy", "overheating", "dead on arrival", "buggy"),
    "fashion": ("itchy", "see-through", "too tight", "faded after one wash"),
    "groceries": ("stale", "bruised", "past its date", "tasteless"),
    "travel": ("dirty", "delayed", "overbooked", "noisy"),
    "gaming": ("buggy", "pay to win", "laggy", "crashing constantly"),
    "beauty": ("greasy", "irritating", "patchy", "sticky"),
    "home_garden": ("wobbly", "rusty", "hard to assemble", "flimsy"),
    "sports": ("heavy", "slippery", "falling apart", "uncomfortable"),
    "books": ("boring", "predictable", "badly printed", "confusing"),
    "luxury": ("fake looking", "scratched", "overpriced", "tarnished"),
}

SHOP = ("this shop", "the seller", "this store", "this merchant", "the shop",
        "this vendor", "the brand")
RELATION = ("wife", "husband", "partner", "daughter", "son", "mum", "dad", "flatmate",
            "sister", "brother", "best friend")
DURATION = ("two days", "a week", "a month", "three uses", "the first wash",
            "one weekend", "two weeks")
SHIP_POS = ("quickly", "a day early", "well packed", "on time", "super fast")
SHIP_NEG = ("late", "damaged", "a week late", "in a crushed box", "with parts missing")
CS_NEG = ("never answered", "was rude", "kept me waiting for days",
          "refused a refund", "sent a copy-paste reply")

OPENERS_POS = ("Honestly,", "Very happy.", "Wow.", "So glad I ordered.", "Update:",
               "Five stars from me.", "Where to start.", "Quick review:", "")
OPENERS_NEG = ("Ugh.", "Not impressed.", "Avoid.", "Sadly,", "Warning:", "Meh.",
               "Very disappointed.", "")
OPENERS_MIX = ("Mixed feelings.", "Hmm.", "So-so.", "Quick review:", "")
CLOSERS_POS = ("Would recommend.", "Will order again.", "Ten out of ten.",
               "Thanks {shop}!", "Highly recommended.", "Worth every penny.", "")
CLOSERS_NEG = ("Never again.", "Asking for a refund.", "Save your money.",
               "One star is generous.", "Going elsewhere next time.", "")
CLOSERS_MIX = ("Might try again.", "Fine for the price.", "Can't complain much.",
               "Three stars.", "")

TPL_POS = (
    "I bought {a_noun} {use} and it is {pos}.",
    "The {noun} arrived {ship_pos} and the {aspect} is {pos}.",
    "Really happy with the {noun}, the {aspect} is {cpos}.",
    "Second time ordering {nouns} from {shop}, never disappointed.",
    "{Shop} had the best price on {nouns} I could find.",
    "My {relation} loves the {noun} I got {use}.",
    "Would buy the {noun} again, the {aspect} alone is worth it.",
    "Such {a_cpos} {noun}!",
    "The {aspect} on this {noun} is {pos}, exactly what I needed {use}.",
    "Got {a_noun} {use}, {aspect} is {cpos} and it feels {pos}.",
    "Been using the {noun} for {duration} now and it is still {cpos}.",
    "Can't fault the {noun}: {aspect} {pos}, {aspect2} {pos2}.",
    "If you need {a_noun} {use}, get this one.",
    "Didn't expect much but the {noun} is {cpos}.",
)
TPL_NEG = (
    "The {noun} was {cneg} after {duration}.",
    "Disappointed, the {aspect} is {neg} and customer service {cs_neg}.",
    "Returned the {noun}, the {aspect} was {neg}.",
    "Do not buy {nouns} from {shop}, mine arrived {ship_neg}.",
    "Ordered {a_noun} {use} and it turned out {cneg}.",
    "The {aspect} of the {noun} is {neg}, not worth the money.",
    "Paid full price for {a_neg} {noun}.",
    "My {relation} returned the {noun} after {duration}, the {aspect} was {cneg}.",
    "Second {noun} in a row that is {cneg}.",
    "{Shop} sent {a_noun} that was {cneg}; support {cs_neg}.",
)
TPL_MIX = (
    "The {noun} is {mix}, the {aspect} is {pos} but the {aspect2} is {neg}.",
    "Decent {noun} for the price, shipping was {ship_neg} though.",
    "Bought {a_noun} {use}. {Aspect} {pos}, {aspect2} could be better.",
    "{A_mix} {noun}, does the job {use}.",
    "Not bad, not great: the {noun} is {mix} and a bit {cneg}.",
    "Good {aspect} but the {noun} felt {cneg} after {duration}.",
)

# Spam templates used by device farms: short, over-the-top, near-duplicates.
TPL_SPAM = (
    "Best {noun} ever!!! Fast shipping, 5 stars",
    "Amazing seller, {noun} 100% original, recommend!!",
    "Great quality {noun}. Will buy again. 5/5",
    "Perfect!!! {Shop} is the best, trust this seller",
    "Excellent {noun}, excellent seller, excellent price!!!",
    "Very good {noun} very fast delivery thank you",
    "Super {noun}!! everyone should buy from {shop}",
)

ABBREV = {"you": "u", "great": "gr8", "thanks": "thx", "really": "rly", "because": "bc",
          "to be honest": "tbh", "please": "pls", "and": "&", "with": "w/"}
EMOTICONS = (" :)", " :(", " :D", " ;)", " <3", " !!", "")


# ----------------------------------------------------------------------------- helpers
def _pick(rng: np.random.Generator, seq: Sequence[str]) -> str:
    return seq[int(rng.integers(len(seq)))]


def _article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _plural(noun: str) -> str:
    if noun.startswith(("pair of ", "set of ", "pack of ", "box of ", "bag of ", "bottle of ",
                        "jar of ", "tub of ", "loaf of ", "carton of ", "dozen ")):
        head, rest = noun.split(" ", 1)
        if head == "dozen":
            return noun
        return _plural(head) + " " + rest
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith("f"):
        return noun[:-1] + "ves"
    return noun + "s"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _fill(rng: np.random.Generator, template: str, cat: str) -> str:
    noun = _pick(rng, NOUNS[cat])
    aspects = ASPECTS[cat]
    i, j = rng.choice(len(aspects), size=2, replace=False)
    pos, cpos = _pick(rng, POS_ADJ), _pick(rng, CAT_POS[cat])
    neg, cneg = _pick(rng, NEG_ADJ), _pick(rng, CAT_NEG[cat])
    mix = _pick(rng, MIX_ADJ)
    shop = _pick(rng, SHOP)
    values = {
        "noun": noun, "nouns": _plural(noun), "a_noun": _article(noun),
        "aspect": aspects[i], "aspect2": aspects[j], "Aspect": _cap(aspects[i]),
        "use": _pick(rng, USES[cat]), "pos": pos, "pos2": _pick(rng, POS_ADJ),
        "cpos": cpos, "a_cpos": _article(cpos), "neg": neg, "cneg": cneg,
        "a_neg": _article(neg), "mix": mix, "A_mix": _cap(_article(mix)),
        "shop": shop, "Shop": _cap(shop), "relation": _pick(rng, RELATION),
        "duration": _pick(rng, DURATION), "ship_pos": _pick(rng, SHIP_POS),
        "ship_neg": _pick(rng, SHIP_NEG), "cs_neg": _pick(rng, CS_NEG),
    }
    return template.format(**values)


def _typo(rng: np.random.Generator, word: str) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    k = int(rng.integers(1, len(word) - 2))
    kind = int(rng.integers(3))
    if kind == 0:   # swap two letters
        return word[:k] + word[k + 1] + word[k] + word[k + 2:]
    if kind == 1:   # drop a letter
        return word[:k] + word[k + 1:]
    return word[:k] + word[k] + word[k:]  # double a letter


def _noise(rng: np.random.Generator, text: str) -> str:
    """Surface variation: chat abbreviations, typos, case, punctuation, emoticons."""
    if rng.random() < 0.15:
        for long, short in ABBREV.items():
            if rng.random() < 0.6:
                text = text.replace(f" {long} ", f" {short} ")
    words = text.split(" ")
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 3))):
            i = int(rng.integers(len(words)))
            words[i] = _typo(rng, words[i])
    text = " ".join(words)
    u = rng.random()
    if u < 0.2:
        text = text.lower()
    elif u < 0.25:
        text = text.lower().replace(".", "")
    if rng.random() < 0.12:
        text = text.replace("!", "!!!").replace(".", "!", 1)
    if rng.random() < 0.15:
        text += _pick(rng, EMOTICONS)
    return text.strip()


# ----------------------------------------------------------------------------- API
def sentiment_of(rating: int) -> str:
    return "pos" if rating >= 4 else ("neg" if rating <= 2 else "mix")


def make_review(rng: np.random.Generator, category: int, rating: int) -> str:
    """One review about product ``category`` (index into CATEGORIES) with a 1-5 rating."""
    cat = CATEGORIES[category]
    sent = sentiment_of(rating)
    tpl, openers, closers = {"pos": (TPL_POS, OPENERS_POS, CLOSERS_POS),
                             "neg": (TPL_NEG, OPENERS_NEG, CLOSERS_NEG),
                             "mix": (TPL_MIX, OPENERS_MIX, CLOSERS_MIX)}[sent]
    n_body = int(rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15]))
    picks = rng.choice(len(tpl), size=n_body, replace=False)
    parts: List[str] = []
    if rng.random() < 0.4:
        parts.append(_pick(rng, openers))
    parts += [_cap(_fill(rng, tpl[int(i)], cat)) for i in picks]
    if sent != "pos" and n_body == 1 and rng.random() < 0.5:
        # mixed / negative reviews often concede one good point
        parts.append(_cap(_fill(rng, _pick(rng, TPL_POS[:8]), cat)).rstrip(".") +
                     ", to be fair.")
    if rng.random() < 0.45:
        parts.append(_pick(rng, closers).format(shop=_pick(rng, SHOP)))
    parts = [p for p in parts if p]
    for i in range(1, len(parts)):
        if parts[i - 1].endswith(","):
            parts[i] = parts[i][:1].lower() + parts[i][1:]
    return _noise(rng, " ".join(parts))


def make_spam_review(rng: np.random.Generator, category: int) -> str:
    """A farm review: short, generic, five-star, nearly identical across accounts."""
    cat = CATEGORIES[category]
    text = _fill(rng, _pick(rng, TPL_SPAM), cat)
    if rng.random() < 0.5:
        text += " " + _pick(rng, ("*****", "5 stars", "A+++", "recommend", "top seller"))
    if rng.random() < 0.3:
        text = text.lower()
    return text
