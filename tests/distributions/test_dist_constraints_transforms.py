def test_mixture_same_family_support_has_a_bijection():
    import torch

    import ppl.distributions as pdist

    mix = pdist.MixtureSameFamily(
        pdist.Categorical(torch.ones(2)), pdist.Gamma(torch.ones(2), torch.ones(2))
    )
    t = pdist.biject_to(mix.support)
    y = t(torch.tensor([-3.0, 0.0, 2.0]))
    assert bool((y > 0).all())
    assert torch.allclose(t.inv(y), torch.tensor([-3.0, 0.0, 2.0]), atol=1e-5)
