# HTTP entry points (marketplace orders) arrive with the order intake feature.
