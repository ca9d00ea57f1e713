"""get_mask / get_plates / NonlocalExit at Pyro's path (pyro.poutine.runtime)."""

import torch

import ppl
import ppl.poutine as poutine
from ppl.poutine.runtime import NonlocalExit, get_mask, get_plates


def test_get_mask_combines_enclosing_masks():
    assert get_mask() is None
    with poutine.mask(mask=False):
        assert get_mask() is False
    m1 = torch.tensor([False, True, True])
    m2 = torch.tensor([True, True, False])
    with ppl.plate("i", 3), poutine.mask(mask=m1):
        assert torch.equal(get_mask(), m1)
        with poutine.mask(mask=m2):
            assert torch.equal(get_mask(), torch.tensor([False, True, False]))


def test_get_plates_reports_enclosing_plates():
    assert get_plates() == ()
    with ppl.plate("outer", 5):
        assert {f.name for f in get_plates()} == {"outer"}
        with ppl.plate("inner", 3):
            frames = get_plates()
            assert isinstance(frames, tuple)
            assert {f.name: f.size for f in frames} == {"outer": 5, "inner": 3}
    assert get_plates() == ()


def test_nonlocal_exit_is_the_escape_handlers_exception():
    assert NonlocalExit is poutine.NonlocalExit
