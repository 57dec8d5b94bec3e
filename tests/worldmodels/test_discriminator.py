import pytest
import torch

from worldmodels.discriminator import DISCRIMINATOR_SIZES, PatchDiscriminator
from worldmodels.losses import adversarial_loss


def test_one_logit_per_overlapping_patch():
    torch.manual_seed(0)
    logits = PatchDiscriminator(DISCRIMINATOR_SIZES["tiny"])(torch.rand(2, 3, 64, 64))
    assert logits.shape == (2, 1, 14, 14)


def test_each_term_trains_only_its_own_side_and_pulls_as_hard_as_the_reconstruction():
    torch.manual_seed(0)
    disc = PatchDiscriminator(DISCRIMINATOR_SIZES["tiny"])
    head = torch.nn.Conv2d(4, 3, 3, padding=1)  # the decoder's last layer
    features, real = torch.randn(4, 4, 16, 16), torch.rand(4, 3, 16, 16)
    fake = torch.sigmoid(head(features))
    reconstruction = (fake - real).abs().mean()

    gan, metrics = adversarial_loss(disc, fake, real, reconstruction, head.weight, weight=0.5)
    generator_only = metrics["adversarial_weight"] * -disc(fake).mean()
    (g_head,) = torch.autograd.grad(gan, head.weight, retain_graph=True)
    (g_rec,) = torch.autograd.grad(reconstruction, head.weight, retain_graph=True)
    assert g_head.norm().item() == pytest.approx(0.5 * g_rec.norm().item(), rel=1e-3)  # adaptive weight
    (g_expected,) = torch.autograd.grad(generator_only, head.weight, retain_graph=True)
    torch.testing.assert_close(g_head, g_expected)  # the discriminator's terms do not reach the decoder

    g_disc = torch.autograd.grad(gan, list(disc.parameters()), retain_graph=True)
    critic = torch.relu(1 - disc(real)).mean() + torch.relu(1 + disc(fake.detach())).mean()
    expected = torch.autograd.grad(critic, list(disc.parameters()))
    for a, b in zip(g_disc, expected):  # the generator term does not reach the discriminator
        torch.testing.assert_close(a, b)
    assert 0 <= metrics["discriminator_accuracy"] <= 1


def test_without_autograd_the_weight_is_the_setting():
    torch.manual_seed(0)
    disc = PatchDiscriminator(DISCRIMINATOR_SIZES["tiny"])
    head = torch.nn.Conv2d(4, 3, 3, padding=1)
    with torch.no_grad():
        fake = torch.sigmoid(head(torch.randn(2, 4, 16, 16)))
        _, metrics = adversarial_loss(disc, fake, torch.rand(2, 3, 16, 16), fake.mean(), head.weight, weight=0.3)
    assert metrics["adversarial_weight"] == pytest.approx(0.3)
