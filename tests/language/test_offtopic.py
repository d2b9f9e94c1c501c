import numpy as np

from lafg.language.offtopic import OfftopicConfig, drop_flagged, offtopic_flags


class WordEncoder:
    """One dimension per known word (a tiny stand-in for a text encoder)."""

    vocab = ["dog", "tall", "golden", "coat", "cat", "mane", "hound", "ears", "fruit", "retriever", "great", "dane",
             "beagle", "photo", "lion"]

    def encode(self, texts):
        out = np.full((len(texts), len(self.vocab)), 1e-3, dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().replace(",", " ").replace(".", " ").split():
                if w in self.vocab:
                    out[i, self.vocab.index(w)] += 1
        return out


DESC = {
    "Great Dane": ["A Great Dane is a Golden Retriever with a golden coat.", "a very tall dog with a short coat"],
    "Golden Retriever": ["a dog with a long golden coat", "a friendly face and feathered tail"],
    "Löwe 🦁": ["Löwe 🦁 is a sweet fruit with a red skin.", "a big cat with a mane"],
    "Beagle": ["a small hound with floppy ears", "a beagle hound with big floppy ears and a golden golden golden coat"],
}


def test_names_another_class_and_class_name_as_something_else():
    flags = offtopic_flags(DESC, WordEncoder())
    assert [f.reason for f in flags["Great Dane"]] == ["names another class (Golden Retriever)"]
    assert flags["Löwe 🦁"][0].reason == "uses the class name for something else (sweet fruit)"
    assert "Golden Retriever" not in flags  # its own sentences are on topic


def test_embedding_check_reads_more_like_another_class():
    flags = offtopic_flags(DESC, WordEncoder(), OfftopicConfig(margin=0.2, min_words=6))
    beagle = [f for f in flags.get("Beagle", [])]
    assert len(beagle) == 1 and beagle[0].other == "Golden Retriever" and "reads more like" in beagle[0].reason
    assert "Beagle" not in offtopic_flags(DESC, WordEncoder(), OfftopicConfig(margin=5.0))


def test_drop_flagged_keeps_the_last_sentence():
    flags = offtopic_flags(DESC, WordEncoder())
    kept = drop_flagged(DESC, flags)
    assert kept["Great Dane"] == ["a very tall dog with a short coat"] and kept["Golden Retriever"] == DESC["Golden Retriever"]
    only = {"A": ["A is a B thing."], "B": ["b"]}
    assert drop_flagged(only, offtopic_flags(only, WordEncoder()))["A"] == ["A is a B thing."]
    assert offtopic_flags({"A": ["x"]}, WordEncoder()) == {}


def test_the_kind_rule_flags_a_class_described_as_another_kind_of_thing():
    """Three dog breeds, one described as clothing (what the bundled model wrote for an Alaskan Malamute)."""

    class KindEncoder:
        """One dimension per kind word: dog-ish words → animal, clothing words → clothing."""

        words = {"dog": 0, "animal": 0, "bird": 0, "fur": 0, "paws": 0, "tail": 0, "coat": 0, "beagle": 0, "pug": 0,
                 "malamute": 0, "clothing": 1, "garment": 1, "fabric": 1, "wool": 1, "hat": 1, "clothes": 1, "fedora": 1,
                 "trench": 1}

        def encode(self, texts):
            out = np.full((len(texts), 3), 1e-3, dtype=np.float32)
            for i, t in enumerate(texts):
                for w in t.lower().replace(",", " ").replace(".", " ").split():
                    if w in self.words:
                        out[i, self.words[w]] += 1
                out[i, 2] += 0.5  # everything shares a little
            return out

    desc = {
        "Beagle": ["a small dog with floppy ears", "a dog with a white tail tip"],
        "Pug": ["a small dog with a curly tail", "a dog with a short fur coat"],
        "Alaskan Malamute": ["it is a traditional clothing with a wide hat", "the fabric of this garment is wool"],
    }
    flags = offtopic_flags(desc, KindEncoder())
    assert list(flags) == ["Alaskan Malamute"] and len(flags["Alaskan Malamute"]) == 2
    assert flags["Alaskan Malamute"][0].reason == "is about clothing, while the list is about an animal"
    assert offtopic_flags(desc, KindEncoder(), OfftopicConfig(kind_check=False)) == {}
    # a mixed list (no kind has more than half the votes of names and sentences) has nothing to be off
    mixed = {"Beagle": desc["Beagle"], "Pug": desc["Pug"], "Fedora": ["a hat of felt and wool"], "Trench coat": ["a long garment of fabric"]}
    assert offtopic_flags(mixed, KindEncoder()) == {}
    # a short list the model got half wrong: the names still say what kind of thing the list is about
    half = {"Beagle": desc["Beagle"], "Pug": ["a wool garment", "a fabric hat"], "Alaskan Malamute": desc["Alaskan Malamute"]}
    assert sorted(offtopic_flags(half, KindEncoder())) == ["Alaskan Malamute", "Pug"]
