"""Reports: pure building from store records (`build`, `compliance`), rendering with Jinja2 (`render`),
and writing files (`write`)."""

from otorchestrator.reporting.write import write_run_reports

__all__ = ["write_run_reports"]
