"""durability layer."""
