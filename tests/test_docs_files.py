"""The docs point only to files inside the repository, and the network files they show load."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from simulator.cost import network_cost
from workloads import load_network
from workloads.loader import network_from_dict

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# a path on this machine or above the repository: /work/..., /home/..., ../shared, ~/x/y.md
OUTSIDE = re.compile(r"(?<![\w.])(?:/(?:work|home|root|Users|mnt)/|\.\./|~/\S+\.(?:md|pdf|py))")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_stay_inside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    for link in LINK.findall(text):
        if re.match(r"[a-z]+:", link) or link.startswith("#"):
            continue  # a web address or an anchor on the page
        target = (doc.parent / link.split("#")[0]).resolve()
        assert target.is_relative_to(ROOT) and target.exists(), f"{doc.name}: link {link} leaves the repository"
    assert not OUTSIDE.findall(text), f"{doc.name}: names paths outside the repository: {OUTSIDE.findall(text)}"


def _toml_blocks(doc: Path) -> list[str]:
    return [b for b in re.findall(r"```toml\n(.*?)```", doc.read_text(), flags=re.S) if "[[layers]]" in b]


@pytest.mark.parametrize("doc", [ROOT / "docs" / "networks.md", ROOT / "README.md"], ids=lambda p: p.name)
def test_network_file_examples_load(doc: Path, tmp_path: Path) -> None:
    blocks = _toml_blocks(doc)
    assert blocks, f"{doc.name} lost its network file example"
    for i, block in enumerate(blocks):
        path = tmp_path / f"example{i}.toml"
        path.write_text(block)
        net = load_network(str(path))
        assert network_cost(net, "32", 1).total > 0


def test_networks_md_example_shapes() -> None:
    """The example's max-pool, strided convolution and average pool give the shapes the page states."""
    layers = network_from_dict(tomllib.loads(_toml_blocks(ROOT / "docs" / "networks.md")[0])).compute_layers()
    assert [(layer.name, layer.out_shape, layer.sent_shape) for layer in layers] == [
        ("conv1", (28, 28, 8), (14, 14, 8)), ("conv2", (7, 7, 16), (1, 1, 16)),
        ("fc1", (32,), (32,)), ("output", (10,), (10,))]
