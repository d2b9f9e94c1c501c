"""benchmarks/splits.py: the group-wise validation split of the seen classes."""

from benchmarks.splits import bird_group, car_make, group_validation_split, seen_class_split


def test_group_split_holds_whole_groups_out():
    names = ["Audi A4 2012", "Audi TT 2011", "BMW M3 2012", "BMW X5 2010", "Ford GT 2006", "Kia Rio 2012"]
    train, val = group_validation_split(names, car_make, fraction=0.3, seed=0)
    assert sorted(train + val) == list(range(6)) and len(val) >= 2
    assert not {car_make(names[i]) for i in train} & {car_make(names[i]) for i in val}
    assert group_validation_split(names, car_make, 0.3, 0) == (train, val)
    assert bird_group("Black footed Albatross") == "Albatross"


def test_seen_class_split_gives_class_ids_of_seen_classes_only():
    classes = ["Audi A4 2012", "Kia Rio 2012", "Audi TT 2011", "BMW M3 2012", "Ford GT 2006", "BMW X5 2010", "Fiat 500"]
    seen = [5, 0, 2, 3, 4]  # any order; classes 1 and 6 are unseen
    train, val = seen_class_split(classes, seen, car_make, 0.3, 0)
    assert sorted(train + val) == sorted(seen) and val and train
    assert not {car_make(classes[c]) for c in train} & {car_make(classes[c]) for c in val}
    names = [classes[c] for c in sorted(seen)]
    t_idx, v_idx = group_validation_split(names, car_make, 0.3, 0)
    assert [names[i] for i in v_idx] == [classes[c] for c in val]
    assert [names[i] for i in t_idx] == [classes[c] for c in train]
