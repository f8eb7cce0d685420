"""Readers of the datasets users bring (LIDC-IDRI crops and DICOM, ACDC, BraTS, a folder of
image/mask pairs), one file each; ``rmdbench data prepare NAME SOURCE`` runs them."""
