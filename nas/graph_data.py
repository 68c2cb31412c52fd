"""A node-classification graph built from real images: a k-nearest-neighbour graph of Fashion-MNIST.

Nodes are the first `NODES` images of the Fashion-MNIST test file (t10k); a node's features are its
pixels (scaled to [0, 1]) projected on their first `FEATURES` principal components and standardised;
each node links to its `NEIGHBOURS` nearest nodes in that feature space, the links are made symmetric
and every node gets a self loop. Everything is numpy and deterministic (no seed is involved), built
once per process and cached in memory.

The task is transductive, as Planetoid's citation graphs: the model holds the whole graph and
classifies its nodes; `split_seed` deals `LABELS_PER_CLASS` labelled nodes per class for training and
`VALIDATION` and `TEST` other nodes for validation and test. The engine's `Dataset` carries these
as its splits, one example per node: the example's input is the node's index, stored as a float32
array of shape (1, 1, 1) so that the engine's image paths (batching, padding, evaluation, export)
carry it unchanged (float32 is exact for indices below 2**24); its label is the node's class. The
dataset's normalisation is the identity (mean 0, std 1, pixel scale 1), so an export reads node indices
as they are. `nas train --space gnn --data fashion-mnist-knn` trains on it.
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.data import (DEFAULT_ROOT, FASHION_MNIST_CLASSES, ROOT_ENV_VAR, Dataset, DataError, Split, _check_int,
                      _locate_fashion_mnist_files, _read_uint8_idx)
from supernets.graph_layer import GraphStructure

NAME = "fashion-mnist-knn"
NODES = 2000
FEATURES = 64
NEIGHBOURS = 8
LABELS_PER_CLASS = 20
VALIDATION = 500
TEST = 1000
NODE_INPUT_SHAPE = (1, 1, 1)  # one example's input: its node index


@dataclass(frozen=True, eq=False)
class NodeGraph:
    """A graph with node features and classes: `features` float32 [N, F], `labels` int32 [N]."""

    name: str
    structure: GraphStructure
    features: np.ndarray
    labels: np.ndarray
    num_classes: int
    source_fingerprint: str = ""  # of the images and labels it was built from (nas.data_identity)

    @property
    def num_nodes(self) -> int:
        return self.structure.num_nodes


def knn_edges(features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric k-nearest-neighbour edges (src, dst) by Euclidean distance, both directions, no self loops.

    Ties are broken by node index (a stable sort), so the graph depends on the features alone.
    """
    count = len(features)
    if not 1 <= k < count:
        raise DataError(f"k={k} nearest neighbours need 1 <= k < the {count} nodes")
    squared = np.sum(features.astype(np.float64) ** 2, axis=1)
    distances = squared[:, None] + squared[None, :] - 2.0 * features.astype(np.float64) @ features.astype(np.float64).T
    np.fill_diagonal(distances, np.inf)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
    src = np.repeat(np.arange(count), k)
    dst = nearest.ravel()
    return np.concatenate([src, dst]), np.concatenate([dst, src])


def pca_features(pixels: np.ndarray, dims: int) -> np.ndarray:
    """float32 [N, dims]: pixels [N, D] centred, projected on their first `dims` principal axes (each
    axis's sign fixed so its largest entry is positive) and scaled to unit standard deviation overall."""
    centred = pixels.astype(np.float64) - pixels.mean(axis=0, dtype=np.float64)
    # The covariance's eigenvectors (D x D, faster than an SVD of the N x D data), largest eigenvalue first.
    _, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, ::-1][:, :dims].T
    signs = np.sign(axes[np.arange(len(axes)), np.argmax(np.abs(axes), axis=1)])
    projected = centred @ (axes * signs[:, None]).T
    return (projected / projected.std()).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _fashion_mnist_knn_graph(root: str) -> NodeGraph:
    paths = _locate_fashion_mnist_files(Path(root))
    images = _read_uint8_idx(paths["test_images"], ndim=3)
    labels = _read_uint8_idx(paths["test_labels"], ndim=1)
    if len(images) < NODES or len(labels) < NODES:
        raise DataError(f"{paths['test_images']}: the graph needs {NODES} images and labels, found "
                        f"{min(len(images), len(labels))}")
    pixels = images[:NODES].reshape(NODES, -1).astype(np.float32) / np.float32(255.0)
    features = pca_features(pixels, FEATURES)
    src, dst = knn_edges(features, NEIGHBOURS)
    structure = GraphStructure.with_self_loops(src, dst, NODES)
    source = hashlib.sha256(images[:NODES].tobytes() + labels[:NODES].tobytes()).hexdigest()[:16]
    return NodeGraph(NAME, structure, features, labels[:NODES].astype(np.int32), FASHION_MNIST_CLASSES, source)


def fashion_mnist_knn_graph(root: str | os.PathLike | None = None) -> NodeGraph:
    """The graph, read from the Fashion-MNIST directory ($WEFT_FASHION_MNIST, else Debian's) once per process."""
    return _fashion_mnist_knn_graph(str(root if root is not None else os.environ.get(ROOT_ENV_VAR, DEFAULT_ROOT)))


def node_inputs(nodes: np.ndarray) -> np.ndarray:
    """float32 [n, 1, 1, 1]: node indices as the examples' inputs."""
    return np.asarray(nodes, np.float32).reshape(-1, *NODE_INPUT_SHAPE)


def node_indices(inputs, num_nodes: int):
    """int32 [n] node indices from examples' inputs [n, 1, 1, 1] (jittable: rounds, clips into range)."""
    import jax.numpy as jnp

    return jnp.clip(jnp.round(inputs.reshape(inputs.shape[0])), 0, num_nodes - 1).astype(jnp.int32)


def node_split_indices(labels: np.ndarray, num_classes: int, seed: int, labels_per_class: int = LABELS_PER_CLASS,
                       validation: int = VALIDATION, test: int = TEST) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, validation, test) node indices, disjoint, each ascending: `labels_per_class` nodes of each class
    for training, then `validation` and `test` nodes drawn from the rest, by a permutation seeded with `seed`."""
    _check_int(seed, "split_seed", low=0)
    order = np.random.default_rng(seed).permutation(len(labels))
    train = np.concatenate([order[labels[order] == c][:labels_per_class] for c in range(num_classes)])
    short = [c for c in range(num_classes) if np.sum(labels[train] == c) < labels_per_class]
    if short:
        raise DataError(f"classes {short} have fewer than {labels_per_class} nodes to label")
    rest = order[~np.isin(order, train)]
    if len(rest) < validation + test:
        raise DataError(f"{len(rest)} unlabelled nodes cannot hold {validation} validation and {test} test nodes")
    return np.sort(train), np.sort(rest[:validation]), np.sort(rest[validation:validation + test])


def load_fashion_mnist_knn(split_seed: int = 0, limit_train: int | None = None,
                           root: str | os.PathLike | None = None) -> Dataset:
    """The graph's node-classification splits as a `Dataset` (see the module docstring).

    `limit_train` keeps the first that many labelled nodes (in node order).
    """
    graph = fashion_mnist_knn_graph(root)
    train, validation, test = node_split_indices(graph.labels, graph.num_classes, split_seed)
    if limit_train is not None:
        _check_int(limit_train, "limit_train", low=1)
        train = train[:limit_train]

    def split(nodes: np.ndarray) -> Split:
        return Split(node_inputs(nodes), graph.labels[nodes])

    return Dataset(name=NAME, train=split(train), validation=split(validation), test=split(test),
                   num_classes=graph.num_classes, input_shape=NODE_INPUT_SHAPE, mean=0.0, std=1.0, pixel_scale=1.0,
                   source_fingerprint=graph.source_fingerprint)
