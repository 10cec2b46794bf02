"""What a run is about: the job store, preset manifests, characters and consent, uploaded inputs."""
