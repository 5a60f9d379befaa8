"""YAML documents indexed by field path, with bounded alias expansion and no duplicate keys."""

import pytest

from reconciler.manifest.yamlnodes import Mark, YamlError, load_documents


def test_values_and_keys_are_indexed_by_field_path():
    (document,) = load_documents("spec:\n  routes:\n    - GET /\n    - POST /x\n")
    assert document.data == {"spec": {"routes": ["GET /", "POST /x"]}}
    assert document.value_mark(("spec", "routes", 1)) == Mark(4, 7)
    assert document.key_mark(("spec", "routes")) == Mark(2, 3)


def test_absent_paths_fall_back_to_the_nearest_ancestor():
    (document,) = load_documents("a: 1\nspec:\n  x: 2\n")
    assert document.value_mark(("spec", "missing", 3)) == Mark(3, 3)
    assert document.key_mark(("spec", "missing")) == Mark(3, 3)
    assert document.value_mark(()) == Mark(1, 1)


def test_empty_text_and_empty_documents_yield_nothing():
    assert load_documents("") == []
    assert load_documents("---\n---\n# nothing\n") == []


def test_merge_keys_are_resolved_and_located_at_their_anchor():
    (document,) = load_documents("base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n")
    assert document.data == {"base": {"x": 1}, "child": {"x": 1, "y": 2}}
    assert document.value_mark(("child", "x")) == Mark(1, 14)


def test_duplicate_key_is_an_error_at_the_second_key():
    with pytest.raises(YamlError) as caught:
        load_documents("a: 1\nb: 2\na: 3\n")
    assert (caught.value.message, caught.value.mark) == ("duplicate key 'a'", Mark(3, 1))


def test_alias_expansion_is_bounded():
    text = "a: &a [1, 2, 3, 4]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n"
    assert len(load_documents(text, max_nodes=112)) == 1  # 1 + 5 + 21 + 85 nodes
    with pytest.raises(YamlError, match="expands to more than 111 nodes"):
        load_documents(text, max_nodes=111)


def test_recursive_alias_is_stopped_by_the_bound():
    with pytest.raises(YamlError, match="expands to more than"):
        load_documents("a: &a [*a]\n", max_nodes=100)


def test_syntax_error_without_a_problem_mark_still_has_a_location():
    with pytest.raises(YamlError) as caught:
        load_documents("a: [1, 2\n")
    assert caught.value.mark.line == 2
    assert caught.value.message.startswith("YAML syntax error:")
