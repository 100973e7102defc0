"""Notebook reprs: Tensor._repr_html_ and Module._repr_html_ (content, truncation, escaping)."""

import re
from html.parser import HTMLParser

import ember


class _Cells(HTMLParser):
    """Collects the text of every <td>, row by row, and checks tags are balanced."""

    def __init__(self):
        super().__init__()
        self.rows, self.stack, self.in_td = [], [], False

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)
        if tag == "tr":
            self.rows.append([])
        self.in_td = tag == "td"
        if self.in_td:
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        assert self.stack.pop() == tag
        self.in_td = False

    def handle_data(self, data):
        if self.in_td:
            self.rows[-1][-1] += data


def _cells(html):
    p = _Cells()
    p.feed(html)
    p.close()
    assert p.stack == []
    return p.rows


def test_small_tensor_shows_header_and_every_value():
    t = ember.tensor([[1.5, -2.0], [3.0, 4.25]], requires_grad=True)
    html = t._repr_html_()
    assert "shape (2, 2) · dtype float32 · device cpu · requires_grad (leaf)" in html
    assert _cells(html) == [["1.5", "-2."], ["3.", "4.25"]]


def test_computed_tensor_shows_grad_fn_escaped_and_grad():
    x = ember.ones(3, requires_grad=True)
    y = x * 2.0
    html = y._repr_html_()
    assert "grad_fn &lt;MulBackward&gt;" in html and "<MulBackward>" not in html
    y.sum().backward()
    assert "grad (3,)" in x._repr_html_()


def test_large_tensor_is_truncated_at_the_corners():
    t = ember.arange(30 * 40).reshape(30, 40)
    rows = _cells(t._repr_html_())
    assert len(rows) == 9 and all(len(r) == 9 for r in rows)
    assert rows[0][:5] == ["0", "1", "2", "3", "…"] and rows[0][-1] == "39"
    assert rows[4] == ["…"] * 9
    assert rows[-1][-1] == str(30 * 40 - 1)


def test_higher_dimensional_and_special_tensors():
    t = ember.arange(24).reshape(2, 3, 4)
    html = t._repr_html_()
    assert "showing [0, :, :]" in html
    assert _cells(html) == [["0", "1", "2", "3"], ["4", "5", "6", "7"], ["8", "9", "10", "11"]]
    assert _cells(ember.tensor(7)._repr_html_()) == [["7"]]
    assert "(no elements)" in ember.zeros(0, 3)._repr_html_()
    assert _cells(ember.tensor([True, False])._repr_html_()) == [["True", "False"]]
    assert _cells(ember.ones(2, dtype=ember.bfloat16)._repr_html_()) == [["1.", "1."]]
    assert _cells(ember.tensor([float("nan"), float("inf")])._repr_html_()) == [["nan", "inf"]]


class _Block(ember.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = ember.nn.Linear(4, 4)
        self.head = ember.nn.Sequential(ember.nn.Linear(4, 2), ember.nn.ReLU())

    def extra_repr(self):
        return "note=<b>&"


def test_module_tree_with_parameter_counts_escaped():
    m = _Block()
    m.head[0].weight.requires_grad_(False)
    html = m._repr_html_()
    assert "_Block</b> · 30 parameters (22 trainable) · training mode" in html
    assert "note=&lt;b&gt;&amp;" in html and "<b>&" not in html
    assert re.search(r"<b>conv</b> Linear\(in_features=4, out_features=4, bias=True\) "
                     r"<span[^>]*>20 params", html)
    assert re.search(r"<summary><b>head</b> Sequential <span[^>]*>10 params", html)
    assert re.search(r"<b>1</b> ReLU <span[^>]*>0 params", html)
    assert html.count("<details") == html.count("</details>") == 2
    assert "eval mode" in m.eval()._repr_html_()
