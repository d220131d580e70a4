"""llmproxy's benchmark (issue 8); see :mod:`tests.bench.run`. Never collected by pytest."""
