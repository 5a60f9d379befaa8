"""The manifest edge: YAML files in, validated `DeploymentSpec`s or located errors out."""
