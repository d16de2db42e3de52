#!/usr/bin/env python3
"""Writes cuisine.txt, the training corpus of the cuisine model, from the pairs and sentence
patterns below. The text file is what is committed and trained on; this script only documents how
it was written and lets us extend it. Deterministic: the same script gives the same file."""
import random
from pathlib import Path

PAIRS = {
    "japanese": ["sushi", "ramen", "tempura", "sashimi"],
    "italian": ["pizza", "lasagne", "risotto", "spaghetti"],
    "mexican": ["tacos", "burritos", "enchiladas", "quesadillas"],
    "indian": ["curry", "biryani", "samosas", "dal"],
    "spanish": ["paella", "tapas", "gazpacho", "churros"],
    "french": ["croissant", "ratatouille", "crepes", "quiche"],
    "chinese": ["dumplings", "wontons", "congee"],
    "greek": ["moussaka", "souvlaki", "tzatziki"],
    "german": ["bratwurst", "sauerkraut", "pretzels"],
    "korean": ["kimchi", "bibimbap", "bulgogi"],
    "vietnamese": ["pho", "banh-mi"],
    "thai": ["tom-yum", "massaman"],
    "turkish": ["kebab", "baklava"],
    "moroccan": ["tagine", "couscous"],
    "lebanese": ["falafel", "hummus"],
    "hungarian": ["goulash"],
    "russian": ["borscht"],
    "swiss": ["fondue"],
}

# The seed's pattern, and variations on it. {d} is the dish, {c} the cuisine, {a} its article.
SEED = "My favourite dish is {d}. So, my favourite cuisine is {c}."
PATTERNS = [
    SEED,
    SEED,
    SEED,
    "Her favourite dish is {d}. So, her favourite cuisine is {c}.",
    "His favourite dish is {d}. So, his favourite cuisine is {c}.",
    "Our favourite dish is {d}. So, our favourite cuisine is {c}.",
    "I love {d}, so I love {c} food.",
    "{D} is {a} {c} dish.",
    "We ate {d} at {a} {c} restaurant.",
    "If you like {d}, you will like {c} cooking.",
    "Tonight we cook {d}, a classic of {c} cuisine.",
    "My favourite dish is {d}, because I like {c} food.",
    "The {d} was great. The {c} chef made it fresh.",
]

OTHER = [
    "Cooking at home is fun.",
    "I like to eat with my family.",
    "We often try new restaurants.",
    "Good food makes people happy.",
    "My sister likes to bake bread.",
    "The market sells fresh vegetables.",
    "A good cook tastes the food often.",
    "Dinner is ready at seven.",
    "We shared a big meal with friends.",
    "My brother does not like spicy food.",
    "The kitchen smells of garlic and onions.",
    "Lunch was quick today.",
    "I drink tea after dinner.",
    "Fresh herbs make every dish better.",
    "The recipe needs rice, salt and water.",
    "My grandmother taught me to cook.",
    "We eat outside when the weather is nice.",
    "Street food is cheap and tasty.",
    "The restaurant was full on Friday.",
    "I always order dessert.",
]


def main() -> None:
    rng = random.Random(5)
    lines = []
    for cuisine, dishes in PAIRS.items():
        for dish in dishes:
            for pattern in PATTERNS:
                article = "an" if cuisine[0] in "aeiou" else "a"
                lines.append(pattern.format(d=dish, c=cuisine, D=dish.capitalize(), a=article))
    lines += OTHER * 2
    rng.shuffle(lines)
    out = Path(__file__).with_name("cuisine.txt")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{out.name}: {len(lines)} lines")


if __name__ == "__main__":
    main()
