"""one head: billing, paging and assist all branched from 0001; merge them

Revision ID: 0005_single_head
Revises: 0002_billing, 0003_paging, 0004_assist
Create Date: 2026-11-29 10:20:00
"""
from __future__ import annotations

revision = "0005_single_head"
down_revision = ("0002_billing", "0003_paging", "0004_assist")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: this revision only joins the three branches into one head."""


def downgrade() -> None:
    """Nothing to change: downgrading splits the head back into its three branches."""
