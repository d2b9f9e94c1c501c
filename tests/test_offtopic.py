import numpy as np

from lafg.offtopic import OfftopicConfig, drop_flagged, offtopic_flags


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
