"""Selection rules on hand-made tensors: co-teaching's exchange and RMD's reliable set."""

import torch

from rmdbench.methods.coteaching import cross_small_loss
from rmdbench.methods.rmd import reliable_distillation
from rmdbench.training.losses import binary_kl
from rmdbench.training.selection import kept_count, masked_mean, smallest_mask


def test_smallest_mask_picks_exactly_the_smallest_both_ways():
    values = torch.tensor([[5.0, 1.0, 3.0], [0.5, 9.0, 2.0]])
    assert smallest_mask(values, 2).tolist() == [[False, True, False], [True, False, False]]
    # keep > half: the implementation drops the largest instead; same answer semantics
    assert smallest_mask(values, 5).tolist() == [[True, True, True], [True, False, True]]
    assert smallest_mask(values, 0).sum() == 0
    assert smallest_mask(values, 6).all()
    assert smallest_mask(values, 99).all()


def test_kept_count_floors():
    assert kept_count(1000, 0.995) == 995
    assert kept_count(10, 0.99) == 9
    assert kept_count(10, 1.5) == 10
    assert kept_count(10, -1) == 0


def test_coteaching_exchange_uses_the_peer_ranking():
    # network 1's loss is large exactly where network 2 thinks the pixel is noisy
    loss_1 = torch.tensor([1.0, 2.0, 3.0, 100.0])
    loss_2 = torch.tensor([0.1, 0.2, 50.0, 0.3])
    mean_1, mean_2 = cross_small_loss(loss_1, loss_2, forget_rate=0.25)  # keep 3 of 4
    # network 1 trains on the 3 smallest of loss_2: indices 0, 1, 3 -> (1 + 2 + 100) / 3
    assert torch.isclose(mean_1, torch.tensor(103.0 / 3))
    # network 2 trains on the 3 smallest of loss_1: indices 0, 1, 2 -> (0.1 + 0.2 + 50) / 3
    assert torch.isclose(mean_2, torch.tensor(50.3 / 3))


def test_coteaching_zero_forget_rate_is_plain_mean():
    loss_1, loss_2 = torch.rand(64), torch.rand(64)
    mean_1, mean_2 = cross_small_loss(loss_1, loss_2, 0.0)
    assert torch.isclose(mean_1, loss_1.mean()) and torch.isclose(mean_2, loss_2.mean())


def test_reliable_distillation_averages_kl_over_the_teachers_reliable_pixels():
    student = torch.tensor([0.0, 1.0, -2.0, 3.0])
    teacher = torch.tensor([2.0, -1.0, 0.5, 0.0])
    reliability = torch.tensor([0.3, 5.0, 0.1, 9.0])  # pixels 2 and 0 are the reliable ones
    value = reliable_distillation(student, teacher, reliability, keep=2)
    expected = binary_kl(teacher, student)[[0, 2]].mean()
    assert torch.isclose(value, expected)


def test_binary_kl_is_zero_for_equal_logits_and_positive_otherwise():
    logits = torch.tensor([-3.0, 0.0, 4.0])
    assert torch.allclose(binary_kl(logits, logits), torch.zeros(3), atol=1e-6)
    p, q = torch.sigmoid(torch.tensor(1.0)), torch.sigmoid(torch.tensor(-1.0))
    by_hand = p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))
    assert torch.isclose(binary_kl(torch.tensor(1.0), torch.tensor(-1.0)), by_hand)


def test_masked_mean_of_empty_mask_is_zero_not_nan():
    values = torch.ones(4, requires_grad=True)
    result = masked_mean(values, torch.zeros(4, dtype=torch.bool))
    assert result.item() == 0.0


def test_trinet_trains_each_network_on_the_intersection_of_its_peers():
    from rmdbench.methods.trinet import peer_agreed_losses

    loss_a = torch.tensor([0.1, 0.2, 9.0, 0.3])  # a's small set (keep 3): {0, 1, 3}
    loss_b = torch.tensor([0.1, 9.0, 0.2, 0.3])  # b's: {0, 2, 3}
    loss_c = torch.tensor([9.0, 0.1, 0.2, 0.3])  # c's: {1, 2, 3}
    mean_a, mean_b, mean_c = peer_agreed_losses([loss_a, loss_b, loss_c], forget_rate=0.25)
    assert torch.isclose(mean_a, (loss_a[2] + loss_a[3]) / 2)  # b ∩ c = {2, 3}
    assert torch.isclose(mean_b, (loss_b[1] + loss_b[3]) / 2)  # a ∩ c = {1, 3}
    assert torch.isclose(mean_c, (loss_c[0] + loss_c[3]) / 2)  # a ∩ b = {0, 3}


def test_jocor_ranks_pixels_by_the_joint_loss():
    from rmdbench.methods.jocor import joint_loss, joint_loss_parts, small_joint_loss_means

    labels = torch.tensor([1.0, 1.0, 0.0, 0.0])
    logits_1 = torch.tensor([4.0, -4.0, -4.0, 4.0])
    logits_2 = torch.tensor([4.0, 4.0, -4.0, -4.0])
    joint = joint_loss(logits_1, logits_2, labels, co_lambda=0.5)
    # pixels 0 and 2: both networks right and agreeing -> smallest joint loss
    assert set(torch.topk(joint, 2, largest=False).indices.tolist()) == {0, 2}
    # λ = 0: the joint loss is the sum of the two BCEs
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    no_agreement = joint_loss(logits_1, logits_2, labels, co_lambda=0.0)
    expected = bce(logits_1, labels, reduction="none") + bce(logits_2, labels, reduction="none")
    assert torch.allclose(no_agreement, expected)
    # the two terms are the parts of the mean small joint loss, over the same pixels
    parts = joint_loss_parts(logits_1, logits_2, labels, co_lambda=0.5)
    terms = small_joint_loss_means(parts, 0.5)
    assert torch.isclose(terms["supervised"] + terms["agreement"], joint[[0, 2]].mean())
    assert torch.isclose(terms["agreement"], parts["agreement"][[0, 2]].mean())
