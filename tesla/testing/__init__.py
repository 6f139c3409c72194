"""Test support shipped with Tesla: offline datasets, and (for backend authors) a fake backend
and the ``BackendContract`` conformance suite in ``tesla.testing.contract``."""
