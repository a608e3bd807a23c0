"""gitopsc: a GitOps repository compiler and policy checker, one wing per stage.

    catalog/   load -> validate -> resolve     YAML files -> Catalog -> Instances
    render/    Instances -> OutputFiles        Kubernetes, ArgoCD, tfvars, inventory
    output/    OutputFiles -> bytes, folder    exact YAML/JSON, atomic writes
    check/     over all three                  findings, enforcement, waivers, reports
    review/    around them                     base revision, affected scope, diff, publish
    pipeline/  the verbs in order              load, compile, check, review
    commands/ + cli.py on top                  options in, exit code out

Data flows down; no module imports a later stage (tests/test_architecture.py).
See docs/architecture.md.
"""
