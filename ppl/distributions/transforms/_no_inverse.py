"""The error raised by flows that have no closed-form inverse (planar, radial)."""

from __future__ import annotations


class NoInverseError(NotImplementedError, KeyError):
    """Raised when an inverse is needed that only the transform's cache could supply.

    Planar and radial flows are invertible in principle but have no closed-form
    inverse: ``inv(y)`` works only for the ``y`` the flow itself just produced (the
    cache). A ``KeyError`` too, as Pyro raises one here.
    """

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


def no_inverse(name: str) -> NoInverseError:
    return NoInverseError(
        f"{name} has no analytic inverse: it can only invert the value it produced last "
        "(kept in its cache). Score samples drawn from the flow itself, or use an "
        "invertible flow (e.g. affine_autoregressive, spline_coupling) to score data."
    )
