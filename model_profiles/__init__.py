"""The model catalogue: one YAML file per model, validated by ModelProfile."""

from model_profiles.errors import ProfileError
from model_profiles.loader import catalogue_dir, load_catalogue, load_profile, load_profile_file
from model_profiles.schema import GENERATIVE_TASKS, Architecture, ModelProfile

__all__ = [
    "GENERATIVE_TASKS",
    "Architecture",
    "ModelProfile",
    "ProfileError",
    "catalogue_dir",
    "load_catalogue",
    "load_profile",
    "load_profile_file",
]
