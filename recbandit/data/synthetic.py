"""A seeded synthetic catalogue: latent topics, English text that carries them imperfectly.

Items have a latent topic mixture and a quality offset; users have latent topic
preferences. Both get generated English text (item title + one-sentence description,
user profile sentence) whose words are drawn from per-topic vocabularies, with a share
``noise`` of topic-free filler words, so a text encoder sees the latent signal through a
noisy channel. Item and user arrival times (in decisions) support cold-start schedules;
``vocab_shift`` describes late (cold) items with synonyms of their topic words that no
warm item uses, so words learned on warm items do not transfer while meaning does.

Everything is drawn from one ``np.random.Generator`` seeded by ``seed``: the same
configuration gives the same catalogue bit for bit on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recbandit._validation import check_float, check_int, check_seed

# Per-topic vocabularies: (adjectives, nouns). Texts use only these and the filler words.
TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "space": (
        ("cosmic", "stellar", "orbital", "galactic", "lunar"),
        ("starship", "planet", "astronaut", "comet", "nebula", "rocket", "galaxy", "alien"),
    ),
    "romance": (
        ("tender", "romantic", "passionate", "heartfelt", "sweet"),
        ("lovers", "wedding", "kiss", "heart", "bride", "romance", "valentine", "sweetheart"),
    ),
    "crime": (
        ("gritty", "criminal", "undercover", "corrupt", "deadly"),
        ("detective", "heist", "gangster", "murder", "police", "robbery", "mafia", "witness"),
    ),
    "cooking": (
        ("delicious", "spicy", "savory", "culinary", "baked"),
        ("chef", "kitchen", "recipe", "bakery", "feast", "restaurant", "dessert", "pasta"),
    ),
    "sports": (
        ("athletic", "competitive", "championship", "olympic", "winning"),
        ("football", "coach", "stadium", "marathon", "team", "tournament", "boxer", "league"),
    ),
    "history": (
        ("ancient", "medieval", "imperial", "historic", "royal"),
        ("empire", "king", "dynasty", "castle", "pharaoh", "revolution", "queen", "knight"),
    ),
    "music": (
        ("musical", "melodic", "rhythmic", "acoustic", "jazzy"),
        ("band", "guitar", "concert", "singer", "album", "orchestra", "drummer", "song"),
    ),
    "nature": (
        ("wild", "green", "coastal", "alpine", "tropical"),
        ("forest", "river", "wolves", "mountain", "ocean", "wildlife", "jungle", "glacier"),
    ),
    "horror": (
        ("haunted", "bloody", "creepy", "cursed", "ghostly"),
        ("ghost", "vampire", "zombie", "demon", "nightmare", "monster", "witch", "graveyard"),
    ),
    "comedy": (
        ("hilarious", "silly", "goofy", "witty", "absurd"),
        ("prank", "clown", "sitcom", "jokes", "roommates", "parody", "mishap", "comedian"),
    ),
    "technology": (
        ("digital", "robotic", "virtual", "cyber", "quantum"),
        ("robot", "hacker", "computer", "algorithm", "startup", "network", "android", "code"),
    ),
    "travel": (
        ("exotic", "nomadic", "scenic", "faraway", "adventurous"),
        ("journey", "passport", "voyage", "island", "backpacker", "roadtrip", "map", "expedition"),
    ),
    "fantasy": (
        ("magical", "enchanted", "mythic", "elven", "mystical"),
        ("dragon", "wizard", "sorcerer", "kingdom", "quest", "sword", "elf", "spell"),
    ),
    "war": (
        ("military", "wartime", "heroic", "tactical", "brutal"),
        ("soldier", "battle", "army", "general", "trench", "sniper", "platoon", "invasion"),
    ),
    "family": (
        ("heartwarming", "childhood", "gentle", "playful", "homely"),
        ("family", "kids", "grandmother", "puppy", "school", "siblings", "holiday", "parents"),
    ),
    "business": (
        ("corporate", "financial", "ambitious", "executive", "profitable"),
        ("banker", "merger", "market", "boardroom", "investor", "fortune", "office", "deal"),
    ),
}
# Synonyms of every topic word, aligned with ``TOPICS`` (the i-th synonym replaces the i-th
# word) and disjoint from every vocabulary above and the filler: under ``vocab_shift`` cold
# items are described with them, so their words share nothing with the warm items' words,
# while their meaning stays that of their topic (a sentence encoder knows "soccer" is
# "football").
SYNONYMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "space": (
        ("interstellar", "celestial", "astronomical", "extraterrestrial", "solar"),
        ("spacecraft", "exoplanet", "cosmonaut", "asteroid", "supernova", "spaceship", "cosmos", "martian"),
    ),
    "romance": (
        ("loving", "amorous", "affectionate", "sentimental", "adoring"),
        ("couple", "marriage", "embrace", "soulmate", "fiancee", "love", "honeymoon", "darling"),
    ),
    "crime": (
        ("lawless", "illegal", "crooked", "shady", "murderous"),
        ("sleuth", "burglary", "mobster", "homicide", "cops", "theft", "cartel", "suspect"),
    ),
    "cooking": (
        ("tasty", "flavorful", "gourmet", "scrumptious", "roasted"),
        ("cook", "cuisine", "cookbook", "pastry", "banquet", "bistro", "cake", "noodles"),
    ),
    "sports": (
        ("sporting", "varsity", "professional", "victorious", "triumphant"),
        ("soccer", "trainer", "arena", "runner", "squad", "playoffs", "wrestler", "referee"),
    ),
    "history": (
        ("antique", "feudal", "regal", "bygone", "aristocratic"),
        ("reign", "emperor", "sultan", "fortress", "mummy", "uprising", "princess", "crusader"),
    ),
    "music": (
        ("harmonic", "lyrical", "orchestral", "instrumental", "bluesy"),
        ("musicians", "piano", "gig", "vocalist", "record", "symphony", "percussionist", "melody"),
    ),
    "nature": (
        ("untamed", "verdant", "seaside", "highland", "equatorial"),
        ("woods", "stream", "bears", "peak", "sea", "animals", "rainforest", "iceberg"),
    ),
    "horror": (
        ("spooky", "gory", "eerie", "demonic", "spectral"),
        ("phantom", "dracula", "undead", "devil", "terror", "beast", "coven", "cemetery"),
    ),
    "comedy": (
        ("funny", "zany", "wacky", "humorous", "ridiculous"),
        ("gag", "jester", "standup", "laughs", "flatmates", "spoof", "blunder", "comic"),
    ),
    "technology": (
        ("electronic", "automated", "simulated", "technological", "computational"),
        ("automaton", "programmer", "laptop", "software", "gadget", "internet", "cyborg", "programming"),
    ),
    "travel": (
        ("foreign", "wandering", "picturesque", "distant", "daring"),
        ("trip", "visa", "cruise", "archipelago", "tourist", "hitchhiking", "atlas", "safari"),
    ),
    "fantasy": (
        ("bewitched", "legendary", "fabled", "fairytale", "arcane"),
        ("unicorn", "mage", "warlock", "realm", "prophecy", "blade", "dwarf", "enchantment"),
    ),
    "war": (
        ("armed", "combat", "valiant", "strategic", "savage"),
        ("troops", "warfare", "infantry", "commander", "bunker", "marksman", "regiment", "airstrike"),
    ),
    "family": (
        ("touching", "youthful", "nurturing", "cheerful", "cozy"),
        ("relatives", "children", "grandpa", "kitten", "classroom", "brothers", "vacation", "mom"),
    ),
    "business": (
        ("commercial", "economic", "entrepreneurial", "managerial", "lucrative"),
        ("financier", "acquisition", "stocks", "chairman", "shareholder", "wealth", "workplace", "contract"),
    ),
}
FILLER = (
    "story",
    "life",
    "world",
    "people",
    "time",
    "day",
    "night",
    "years",
    "friends",
    "city",
    "secret",
    "truth",
    "chance",
    "dream",
    "past",
    "home",
    "road",
    "way",
    "light",
    "change",
)
FILLER_ADJ = ("strange", "new", "old", "small", "big", "last", "first", "lost", "hidden", "simple")
MAX_TOPICS = len(TOPICS)


@dataclass(frozen=True)
class SyntheticConfig:
    """Scale and noise knobs of the synthetic catalogue.

    Attributes:
        n_items: number of items in the catalogue.
        n_users: number of users.
        n_topics: number of latent topics (at most 16, one built-in vocabulary each).
        noise: share of words in every text drawn from topic-free filler, in [0, 1).
        topic_concentration: Dirichlet concentration of item topic mixtures (small = one topic).
        quality_scale: standard deviation of the per-item quality offset (not in the text).
        cold_fraction: share of items that arrive after the first decision.
        arrival_span: late items arrive uniformly over decisions [1, arrival_span].
        profile_words: topic words in each user's profile text (more = a clearer signal).
        preference_concentration: Dirichlet concentration of user preferences (a user's
            preference is a distribution over topics; small = one or two favourite topics).
        topic_popularity_decay: topic j is favoured by users in proportion to ``decay**j``
            (1 = all topics equally popular; < 1 gives items a user-independent appeal).
        vocab_shift: probability, in [0, 1], that a topic word of a cold item (one arriving
            after decision 0) is replaced by its synonym from ``SYNONYMS``, words no warm
            item or user profile uses. 0 (default) leaves the catalogue as without it; the
            swaps draw from their own generator, so nothing else changes.
        new_user_fraction: share of users, in [0, 1), who arrive after decision 0 (at
            least one user is always there from the start).
        user_arrival_span: late users arrive uniformly over decisions [1, user_arrival_span].
        seed: seed of the generator that draws the whole catalogue.
    """

    n_items: int = 1000
    n_users: int = 2000
    n_topics: int = 8
    noise: float = 0.1
    topic_concentration: float = 0.05
    quality_scale: float = 0.1
    cold_fraction: float = 0.2
    arrival_span: int = 20_000
    profile_words: int = 16
    preference_concentration: float = 0.3
    topic_popularity_decay: float = 0.7
    vocab_shift: float = 0.0
    new_user_fraction: float = 0.0
    user_arrival_span: int = 20_000
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("n_items", self.n_items, min_value=2)
        check_int("n_users", self.n_users, min_value=1)
        check_int("n_topics", self.n_topics, min_value=1, max_value=MAX_TOPICS)
        check_float("noise", self.noise, min_value=0.0, max_value=1.0, max_inclusive=False)
        check_float("topic_concentration", self.topic_concentration, min_value=0.0, min_inclusive=False)
        check_float("quality_scale", self.quality_scale, min_value=0.0)
        check_float("cold_fraction", self.cold_fraction, min_value=0.0, max_value=1.0, max_inclusive=False)
        check_int("arrival_span", self.arrival_span, min_value=1)
        check_int("profile_words", self.profile_words, min_value=1)
        check_float(
            "topic_popularity_decay", self.topic_popularity_decay, min_value=0.0, max_value=1.0, min_inclusive=False
        )
        check_float("preference_concentration", self.preference_concentration, min_value=0.0, min_inclusive=False)
        check_float("vocab_shift", self.vocab_shift, min_value=0.0, max_value=1.0)
        check_float("new_user_fraction", self.new_user_fraction, min_value=0.0, max_value=1.0, max_inclusive=False)
        check_int("user_arrival_span", self.user_arrival_span, min_value=1)
        check_seed("seed", self.seed)


@dataclass(frozen=True)
class SyntheticCatalogue:
    """Items and users with latent factors and text.

    Attributes:
        config: the configuration that generated it.
        topic_names: ``n_topics`` names.
        item_topics: float64[n_items, n_topics], rows are mixtures summing to 1.
        item_quality: float64[n_items], latent quality offset (invisible in text).
        item_text: ``n_items`` strings, "Title. Description."
        item_arrival: int64[n_items], index of the first decision the item can be shown at.
        user_prefs: float64[n_users, n_topics], latent topic preferences (rows sum to 1).
        user_text: ``n_users`` profile sentences.
        user_arrival: int64[n_users], index of the first decision the user can arrive at
            (all zeros unless ``new_user_fraction`` > 0).
    """

    config: SyntheticConfig
    topic_names: tuple[str, ...]
    item_topics: np.ndarray
    item_quality: np.ndarray
    item_text: list[str] = field(repr=False)
    item_arrival: np.ndarray = field(repr=False)
    user_prefs: np.ndarray = field(repr=False)
    user_text: list[str] = field(repr=False)
    user_arrival: np.ndarray = field(repr=False)

    @property
    def n_items(self) -> int:
        """Number of items."""
        return int(self.item_topics.shape[0])

    @property
    def n_users(self) -> int:
        """Number of users."""
        return int(self.user_prefs.shape[0])


def make_catalogue(config: SyntheticConfig | None = None, **overrides: object) -> SyntheticCatalogue:
    """Draw a synthetic catalogue.

    Args:
        config: knobs; ``SyntheticConfig()`` when omitted.
        **overrides: fields of ``SyntheticConfig`` to replace.

    Returns:
        The catalogue; identical for identical configurations.
    """
    if config is None:
        config = SyntheticConfig(**overrides)  # type: ignore[arg-type]
    elif overrides:
        config = SyntheticConfig(**{**config.__dict__, **overrides})  # type: ignore[arg-type]
    rng = np.random.default_rng(config.seed)
    t = config.n_topics
    names = tuple(list(TOPICS)[:t])
    vocab = [TOPICS[n] for n in names]

    item_topics = rng.dirichlet(np.full(t, config.topic_concentration), size=config.n_items)
    item_quality = rng.normal(0.0, config.quality_scale, size=config.n_items)
    n_late = int(round(config.cold_fraction * config.n_items))
    arrival = np.zeros(config.n_items, dtype=np.int64)
    late = rng.choice(config.n_items, size=n_late, replace=False)
    arrival[late] = rng.integers(1, config.arrival_span + 1, size=n_late)
    popularity = config.topic_popularity_decay ** np.arange(t)
    base = config.preference_concentration * t * popularity / popularity.sum()
    user_prefs = rng.dirichlet(base, size=config.n_users)

    # The vocabulary shift and the users' arrivals draw from generators of their own, so the
    # main stream (and with it every text) is the same whatever they are.
    swap = _Swap(config.vocab_shift, [TOPICS[n] for n in names], [SYNONYMS[n] for n in names], config.seed)
    item_text = [
        _item_text(rng, item_topics[i], vocab, config.noise, swap if arrival[i] > 0 else None)
        for i in range(config.n_items)
    ]
    # A user's profile names words from topics drawn in proportion to how much they like them.
    user_text = [
        _user_text(rng, user_prefs[u], vocab, config.noise, config.profile_words) for u in range(config.n_users)
    ]
    return SyntheticCatalogue(
        config=config,
        topic_names=names,
        item_topics=item_topics,
        item_quality=item_quality,
        item_text=item_text,
        item_arrival=arrival,
        user_prefs=user_prefs,
        user_text=user_text,
        user_arrival=_user_arrival(config),
    )


def _user_arrival(config: SyntheticConfig) -> np.ndarray:
    """int64[n_users]: 0 for the initial users, uniform in [1, span] for ``new_user_fraction`` of them."""
    arrival = np.zeros(config.n_users, dtype=np.int64)
    n_new = min(int(round(config.new_user_fraction * config.n_users)), config.n_users - 1)
    if n_new > 0:
        rng = np.random.default_rng([config.seed, 2])
        late = rng.choice(config.n_users, size=n_new, replace=False)
        arrival[late] = rng.integers(1, config.user_arrival_span + 1, size=n_new)
    return arrival


class _Swap:
    """Replaces a topic word by its synonym with probability ``p`` (own generator; none drawn at 0 or 1)."""

    def __init__(self, p: float, vocab: list, synonyms: list, seed: int) -> None:
        self.p = p
        self.rng = np.random.default_rng([seed, 1])
        self.table = {w: s for v, sv in zip(vocab, synonyms, strict=True) for k in (0, 1) for w, s in
                      zip(v[k], sv[k], strict=True)}  # fmt: skip

    def __call__(self, word: str) -> str:
        if self.p <= 0 or word not in self.table:
            return word
        if self.p >= 1 or self.rng.random() < self.p:
            return self.table[word]
        return word


def _word(rng: np.random.Generator, mix: np.ndarray, vocab: list, noise: float, kind: int) -> str:
    """One word: filler with probability ``noise``, else from a topic drawn from ``mix``."""
    if rng.random() < noise:
        pool = FILLER_ADJ if kind == 0 else FILLER
    else:
        pool = vocab[int(rng.choice(len(mix), p=mix))][kind]
    return str(pool[int(rng.integers(len(pool)))])


def _item_text(rng: np.random.Generator, mix: np.ndarray, vocab: list, noise: float, swap: _Swap | None) -> str:
    adj, noun = _word(rng, mix, vocab, noise, 0), _word(rng, mix, vocab, noise, 1)
    words = [_word(rng, mix, vocab, noise, 1) for _ in range(3)]
    adj2 = _word(rng, mix, vocab, noise, 0)
    if swap is not None:
        adj, noun, adj2 = swap(adj), swap(noun), swap(adj2)
        words = [swap(w) for w in words]
    template = int(rng.integers(3))
    if template == 0:
        desc = f"A {adj2} tale of {words[0]}, {words[1]} and {words[2]}."
    elif template == 1:
        desc = f"When {words[0]} meets {words[1]}, a {adj2} {words[2]} changes everything."
    else:
        desc = f"The {adj2} {words[0]} behind the {words[1]} and the {words[2]}."
    return f"The {adj.capitalize()} {noun.capitalize()}. {desc}"


def _user_text(rng: np.random.Generator, like: np.ndarray, vocab: list, noise: float, n_words: int) -> str:
    """Profile sentences naming ``n_words`` nouns and adjectives from liked topics."""
    parts = []
    for start in range(0, n_words, 4):
        m = min(4, n_words - start)
        adj = _word(rng, like, vocab, noise, 0)
        nouns = [_word(rng, like, vocab, noise, 1) for _ in range(max(m - 1, 1))]
        listed = nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + f" and {nouns[-1]}"
        lead = _USER_LEADS[(start // 4) % len(_USER_LEADS)]
        parts.append(f"{lead} {adj} stories about {listed}.")
    return " ".join(parts)


_USER_LEADS = ("Enjoys", "Also likes", "Often picks", "Sometimes watches")
