# Inputs of this environment's root module. gitopsc writes their values to
# rendered/<env>/terraform/catalog.auto.tfvars.json; copy or link that file next to this
# module (see docs/output.md). Keys of the maps are stable ids, so `for_each` over them
# keeps resource addresses when unrelated entries change.

variable "environment" {
  description = "Name of the environment (dev, staging, prod)."
  type        = string
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
  }))
}

variable "databases" {
  description = "Managed databases, one per instance that declares infrastructure.database."
  type = map(object({
    engine            = string
    version           = string
    size              = string
    storage_gb        = number
    high_availability = bool
    customer          = string
    residency         = string
  }))
}

variable "buckets" {
  description = "Object storage buckets; residency decides the region they are created in."
  type = map(object({
    versioning     = bool
    retention_days = number
    customer       = string
    residency      = string
  }))
}
