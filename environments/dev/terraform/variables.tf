# Inputs of this environment's root module. gitopsc writes their values to
# rendered/<env>/terraform/catalog.auto.tfvars.json; copy or link that file next to this
# module (see docs/output.md). Keys of the maps are stable ids, so `for_each` over them
# keeps resource addresses when unrelated entries change.
#
# This file is gitopsc's contract with the module: `gitopsc compile` and `check` read it
# and fail, at the line below, when the tfvars would not fit (a key not declared here, a
# required variable gitopsc does not set, a value of another type, an attribute gitopsc
# writes that a type does not list). Change it and the catalog in one merge request.
#
# Every cluster, DNS record, database and bucket carries the `provider` that creates it
# (`aws`, `upcloud`), so one module can create each in its cloud:
#   for_each = { for k, v in var.databases : k => v if v.provider == "upcloud" }

variable "environment" {
  description = "Name of the environment (dev, staging, prod)."
  type        = string
}

variable "clusters" {
  description = "The environment's Kubernetes clusters and the provider each runs in."
  type = map(object({
    region    = string
    residency = list(string)
    provider  = string
  }))
}

variable "customers" {
  description = "Customers with at least one instance in this environment."
  type = map(object({
    plan      = string
    residency = string
    status    = string
    domains   = list(string)
  }))
}

variable "dns_records" {
  # Types: A, AAAA, CNAME, MX, TXT, SRV, PTR (name: the reverse name of the address, in
  # in-addr.arpa or ip6.arpa; its reverse zone must be delegated to this account by the
  # address's owner), TLSA ("usage selector matching-type data"), CAA (flags tag "value").
  # Keys: <customer>-<service>-<record>, or <customer>-<service>-<record>@<domain> for a
  # record declared for each of a customer's domains (stable when a domain is added).
  description = "DNS records for customer domains and platform names; priority is null unless MX/SRV."
  type = map(object({
    name     = string
    type     = string
    value    = string
    ttl      = number
    priority = number
    provider = string
  }))
}

variable "databases" {
  # Give the database resources `lifecycle { prevent_destroy = true }` (docs/ci.md): a
  # key that disappears from this map (a customer removed or moved) destroys the data.
  description = "Managed databases, one per instance that declares infrastructure.database."
  type = map(object({
    engine            = string
    version           = string
    size              = string
    storage_gb        = number
    high_availability = bool
    customer          = string
    residency         = string
    provider          = string
  }))
  validation {
    # an entry of a provider this module does not dispatch on would be created nowhere
    condition     = alltrue([for v in values(var.databases) : contains(["aws", "upcloud"], v.provider)])
    error_message = "A database names a provider this module does not create databases with."
  }
}

variable "buckets" {
  description = "Object storage buckets; residency decides the region they are created in."
  type = map(object({
    versioning     = bool
    retention_days = number
    customer       = string
    residency      = string
    provider       = string
  }))
  validation {
    condition     = alltrue([for v in values(var.buckets) : contains(["aws", "upcloud"], v.provider)])
    error_message = "A bucket names a provider this module does not create buckets with."
  }
}
