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


def _still(zoom=(1.0, 1.0), rotation=(0.0, 0.0)):
    return StrongAugmentation(
        noise_std=0.0, displacement_sigma=(0.0, 0.0), rotation_degrees=rotation, zoom=zoom
    )


def test_3d_flips_apply_the_same_flip_to_volume_and_label_on_every_axis():
    volumes = torch.rand(32, 1, 4, 5, 6)
    flipped, labels = random_sample_flips(volumes, volumes.clone(), _generator())
    assert torch.equal(flipped, labels)
    for dim in (2, 3, 4):  # with 32 samples, each axis is flipped for some of them
        assert any(torch.equal(f, v.flip(dim - 1)) for f, v in zip(flipped, volumes, strict=True))


def test_3d_warp_with_no_displacement_rotation_or_zoom_is_identity():
    volumes = torch.rand(2, 1, 6, 8, 10)
    grid = _still().sampling_grid(volumes.shape, _generator(), volumes.device, volumes.dtype)
    assert grid.shape == (2, 6, 8, 10, 3)
    warped = torch.nn.functional.grid_sample(volumes, grid, align_corners=False)
    assert torch.allclose(warped, volumes, atol=1e-5)


def test_3d_rotation_turns_the_slices_and_leaves_the_depth_axis_alone():
    """A volume that changes only along depth is unchanged by an in-plane rotation (up to
    the random flip of the whole batch along depth)."""
    depth_ramp = torch.linspace(0, 1, 8).view(1, 1, 8, 1, 1).expand(1, 1, 8, 12, 12).clone()
    warped, _ = _still(rotation=(30.0, 30.0))(depth_ramp, [], _generator(), warp=True)
    assert any(torch.allclose(warped, ramp, atol=1e-5) for ramp in (depth_ramp, depth_ramp.flip(2)))
    row_ramp = torch.linspace(0, 1, 12).view(1, 1, 1, 12, 1).expand(1, 1, 8, 12, 12).clone()
    warped, _ = _still(rotation=(30.0, 30.0))(row_ramp, [], _generator(), warp=True)
    assert not torch.allclose(warped, row_ramp, atol=1e-2)


def test_3d_zoom_above_one_magnifies_in_every_axis():
    ball = torch.zeros(1, 1, 24, 24, 24)
    zz, yy, xx = torch.meshgrid(*(torch.arange(24),) * 3, indexing="ij")
    ball[0, 0] = (((zz - 11.5) ** 2 + (yy - 11.5) ** 2 + (xx - 11.5) ** 2) <= 16).float()
    warped, _ = _still(zoom=(2.0, 2.0))(ball, [], _generator(), warp=True)
    ratio = (warped > 0.5).sum() / (ball > 0.5).sum()
    assert 6.0 < ratio < 10.0  # volume x8
