"""The version of fetchcli, alone: the modules that need it import it from here, not from the
package's public API (``fetchcli/__init__.py``, which loads more)."""

__version__ = "0.1.0"
