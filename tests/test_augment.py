import torch

from rmdbench.training.augment import StrongAugmentation, random_sample_flips


def _generator(seed=0):
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def test_sample_flips_apply_the_same_flip_to_image_and_label():
    images = torch.rand(16, 1, 8, 8)
    labels = images.clone()
    flipped_images, flipped_labels = random_sample_flips(images, labels, _generator())
    assert torch.equal(flipped_images, flipped_labels)
    assert not torch.equal(flipped_images, images)  # 16 samples: some flip with near certainty


def test_strong_view_transforms_image_and_logits_identically():
    augmentation = StrongAugmentation(noise_std=0.0)
    images = torch.rand(4, 1, 16, 16)
    logits = images.clone() * 3 - 1
    for warp in (False, True):
        view, (warped_logits,) = augmentation(images, [logits], _generator(1), warp=warp)
        assert torch.allclose(warped_logits, view.clamp(0, 1) * 3 - 1, atol=1e-5)


def test_warp_with_no_displacement_rotation_or_zoom_is_identity():
    augmentation = StrongAugmentation(
        noise_std=0.0, displacement_sigma=(0.0, 0.0), rotation_degrees=(0.0, 0.0), zoom=(1.0, 1.0)
    )
    images = torch.rand(3, 1, 12, 12)
    grid = augmentation.sampling_grid(images.shape, _generator(), images.device, images.dtype)
    warped = torch.nn.functional.grid_sample(images, grid, align_corners=False)
    assert torch.allclose(warped, images, atol=1e-5)


def test_zoom_above_one_magnifies():
    augmentation = StrongAugmentation(
        noise_std=0.0, displacement_sigma=(0.0, 0.0), rotation_degrees=(0.0, 0.0), zoom=(2.0, 2.0)
    )
    disk = torch.zeros(1, 1, 32, 32)
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    disk[0, 0] = (((yy - 15.5) ** 2 + (xx - 15.5) ** 2) <= 36).float()
    warped, _ = augmentation(disk, [], _generator(), warp=True)
    ratio = (warped > 0.5).sum() / (disk > 0.5).sum()
    assert 3.0 < ratio < 5.0  # area x4


def test_augmentation_is_reproducible_from_the_generator():
    augmentation = StrongAugmentation()
    images = torch.rand(4, 1, 16, 16)
    first, _ = augmentation(images, [], _generator(7), warp=True)
    second, _ = augmentation(images, [], _generator(7), warp=True)
    assert torch.equal(first, second)
