"""Input planning and readers, atomic output writers, completion markers."""
