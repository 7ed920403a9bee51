"""Purchase rankers. Each one: hyperparameters in ``__init__``, ``fit(interactions) -> self``,
learned state in attributes ending in ``_``, and ``score(rows)`` returning a dense
(len(rows), n_products) float32 matrix where higher is better. Scoring is matrix products only.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer

from .interactions import Interactions


class Ranker:
    name = "ranker"

    def _check_fitted(self) -> None:
        if not any(attr.endswith("_") and not attr.startswith("_") for attr in vars(self)):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() first")

    def fit(self, interactions: Interactions) -> Ranker:
        raise NotImplementedError

    def score(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class PopularityRanker(Ranker):
    """Products by recent sales: orders in the last ``window`` days plus a small share of all-time orders."""

    name = "popularity"

    def __init__(self, all_time_weight: float = 0.1):
        self.all_time_weight = all_time_weight

    def fit(self, interactions: Interactions) -> PopularityRanker:
        all_time = np.asarray(interactions.confidence.sum(axis=0)).ravel()
        recent = interactions.recent_popularity
        scores = recent / max(recent.max(), 1.0) + self.all_time_weight * all_time / max(all_time.max(), 1.0)
        self.scores_ = scores.astype(np.float32)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return np.tile(self.scores_, (len(rows), 1))


class BuyAgainRanker(Ranker):
    """The customer's own history: recency-decayed order counts, so frequent and recent buys rank first.

    Each product's score is scaled by how often its buyers buy it again (``repeat_exponent``):
    a customer's third box of tea lights is likelier to be followed by a fourth than a one-off gift.
    """

    name = "buy_again"

    def __init__(self, frequency_weight: float = 0.5, repeat_exponent: float = 0.5):
        self.frequency_weight = frequency_weight
        self.repeat_exponent = repeat_exponent

    def fit(self, interactions: Interactions) -> BuyAgainRanker:
        matrix = sp.csr_matrix(interactions.recency, dtype=np.float32)
        if self.frequency_weight:
            matrix = (
                matrix
                + self.frequency_weight * sp.csr_matrix(interactions.confidence, dtype=np.float32).log1p()
            )
        counts = interactions.confidence
        buyers = np.asarray((counts > 0).sum(axis=0)).ravel()
        repeaters = np.asarray((counts > 1).sum(axis=0)).ravel()
        # Smoothed share of buyers who bought the product more than once.
        repeat_rate = (repeaters + 1.0) / (buyers + 2.0)
        self.repeat_factor_ = ((repeat_rate / repeat_rate.mean()) ** self.repeat_exponent).astype(np.float32)
        self.matrix_ = sp.csr_matrix(matrix.multiply(self.repeat_factor_[None, :]), dtype=np.float32)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.matrix_[rows].toarray()


def bm25_weight(matrix: sp.spmatrix, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """BM25 weighting of a customer x product matrix, products as documents and customers as terms."""
    coo = sp.coo_matrix(matrix, dtype=np.float64)
    n_products = coo.shape[1]
    # A customer who bought everything says little about any product (idf over customers).
    idf = np.log(n_products) - np.log1p(np.bincount(coo.row, minlength=coo.shape[0]))
    product_length = np.bincount(coo.col, weights=coo.data, minlength=n_products)
    length_norm = (1.0 - b) + b * product_length / max(product_length.mean(), 1e-12)
    data = coo.data * (k1 + 1.0) / (k1 * length_norm[coo.col] + coo.data) * idf[coo.row]
    return sp.csr_matrix((data.astype(np.float32), (coo.row, coo.col)), shape=coo.shape)


def keep_top_k_per_row(matrix: np.ndarray, k: int) -> sp.csr_matrix:
    """Sparsifies a dense similarity matrix to each row's k largest entries (the neighbourhood)."""
    n = matrix.shape[0]
    k = min(k, matrix.shape[1])
    idx = np.argpartition(-matrix, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(matrix, idx, axis=1)
    out = sp.csr_matrix((values.ravel(), (np.repeat(np.arange(n), k), idx.ravel())), shape=matrix.shape)
    out.eliminate_zeros()
    return out


class ItemKNNRanker(Ranker):
    """Item-item nearest neighbours: score = history x similarity, similarity from BM25 or cosine weighting.

    ``similarity_`` is a sparse product x product matrix holding each product's ``neighbours``
    most similar products (self-similarity removed).
    """

    name = "item_knn"

    def __init__(
        self,
        neighbours: int = 100,
        weighting: str = "bm25",
        k1: float = 1.2,
        b: float = 0.75,
        history: str = "recency",
    ):
        self.neighbours = neighbours
        self.weighting = weighting
        self.k1 = k1
        self.b = b
        self.history = history

    def fit(self, interactions: Interactions) -> ItemKNNRanker:
        counts = interactions.confidence
        if self.weighting == "bm25":
            weighted = bm25_weight(counts, self.k1, self.b)
        elif self.weighting == "cosine":
            weighted = sp.csr_matrix(counts, dtype=np.float32)
        else:
            raise ValueError(f"unknown weighting {self.weighting!r}")
        self.similarity_ = self._neighbourhoods(weighted)
        self.history_ = sp.csr_matrix(
            interactions.recency if self.history == "recency" else interactions.confidence, dtype=np.float32
        )
        return self

    def _neighbourhoods(self, weighted: sp.csr_matrix, chunk: int = 1024) -> sp.csr_matrix:
        """Product x product similarity, computed a block of products at a time so memory stays
        at chunk x n_products whatever the catalogue size."""
        columns = sp.csc_matrix(weighted)
        n = weighted.shape[1]
        norms = np.sqrt(np.maximum(np.asarray(columns.multiply(columns).sum(axis=0)).ravel(), 1e-12))
        blocks = []
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            gram = np.asarray((columns[:, start:stop].T @ columns).todense(), dtype=np.float32)
            if self.weighting == "cosine":
                gram = gram / norms[start:stop, None] / norms[None, :]
            gram[np.arange(stop - start), np.arange(start, stop)] = 0.0
            blocks.append(keep_top_k_per_row(gram, self.neighbours))
        return sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, 0), dtype=np.float32)

    def score(self, rows: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return np.asarray((self.history_[rows] @ self.similarity_).todense(), dtype=np.float32)


class ALSRanker(Ranker):
    """Implicit-feedback matrix factorisation (``implicit`` ALS, CPU), confidence ``alpha * log1p(count)``."""

    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        random_state: int = 0,
        num_threads: int = 1,
    ):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads

    def fit(self, interactions: Interactions) -> ALSRanker:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        weighted = sp.csr_matrix(interactions.confidence, dtype=np.float32).log1p() * self.alpha
        if weighted.nnz == 0:
            # Nothing to factorise (an empty shop): zero factors score every product equally.
            self.user_factors_ = np.zeros((weighted.shape[0], self.factors), dtype=np.float32)
            self.item_factors_ = np.zeros((weighted.shape[1], self.factors), dtype=np.float32)
            return self
        # implicit asks for single-threaded BLAS: its own threads already use the cores.
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=self.num_threads,
                calculate_training_loss=False,
            )
            model.fit(weighted, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.user_factors_[rows] @ self.item_factors_.T


class ContentSimilarity:
    """TF-IDF over each product's name, description and category; cosine similarity between products.

    Used for similar products of products without purchases and to pad cold-start lists.
    """

    def __init__(self, max_features: int = 20000, ngram_range: tuple[int, int] = (1, 2), min_df: int = 1):
        self.max_features = max_features
        self.ngram_range = ngram_range
        self.min_df = min_df

    def fit(self, texts: list[str]) -> ContentSimilarity:
        texts = [text if text and text.strip() else "unnamed" for text in texts]
        vectorizer = TfidfVectorizer(
            max_features=self.max_features,
            ngram_range=self.ngram_range,
            min_df=self.min_df,
            sublinear_tf=True,
        )
        self.vectors_ = vectorizer.fit_transform(texts).astype(np.float32)
        return self

    def similarity(self, rows: np.ndarray | None = None) -> np.ndarray:
        if not hasattr(self, "vectors_"):
            raise NotFittedError("ContentSimilarity is not fitted; call fit() first")
        left = self.vectors_ if rows is None else self.vectors_[rows]
        sim = np.asarray((left @ self.vectors_.T).todense(), dtype=np.float32)
        return sim
