"""The package's error hierarchy: every error recallrank raises on purpose is a ``RecallrankError``."""

from __future__ import annotations


class RecallrankError(Exception):
    """Base class of every error raised by recallrank on purpose."""


class InvalidInputError(RecallrankError, ValueError):
    """A query, document or argument has a value recallrank cannot use."""


class ModelLoadError(RecallrankError):
    """A model could not be found or loaded."""


class StoreError(RecallrankError):
    """The vector store failed or refused an operation."""


class CollectionMismatchError(StoreError):
    """An existing collection does not match the model's vector size or distance."""


class StoreCorruptedError(StoreError):
    """Stored files are missing, truncated or inconsistent; ``recallrank doctor`` says what and repairs it."""


class StoreUnavailableError(StoreError):
    """A Qdrant server cannot be reached, or an embedded store is locked by another process."""


class DatasetError(RecallrankError):
    """A dataset is missing, malformed or cannot be built here."""


class MissingDependencyError(RecallrankError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
