"""Notebook 06, least privilege per pod with MWAA and EKS: `scenario` (names, waits, the DAG's variants, the figure,
clean-up), `kube` (the Kubernetes API of a cluster as EksPodOperator reaches it, and the manifests in `manifests/`),
`pod_lifecycle` (what happened to a run's pods)."""
