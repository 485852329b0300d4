// reconcile/policy.h — merge policies: how the winner at a path is chosen among the sites' values.
//
// DESIGN §2 "Policies". A PolicyTable maps path patterns to policies; the first rule that matches
// a record's kind and path applies, and `lww` applies where none does. A pattern is a slashed path
// whose segments may be "*" (any one segment) or a trailing "**" (any number, including none).
// The table is configuration that must be identical at all sites (or replicated lattice state, as
// the store keeps it), so every site materializes the same bytes.
//
// Policies (all deterministic, all break ties by (stamp, value bytes)):
//   lww            greatest stamp wins.
//   order          among values written after the fork point, the one earliest in `order` wins
//                  (values not listed rank last); with none after the fork point, lww.
//   max            the greatest number wins; non-numbers rank below numbers.
//   union          arrays used as sets: the union of every site's visible array, elements
//                  deduplicated and sorted by canonical bytes; a non-array falls back to lww.
//   site-priority  the priority site's value written after the fork point wins; otherwise lww.
//   multi          shown as lww, but every path with more than one site's value after the fork
//                  point is reported as a conflict.
//
// Thread safety: a PolicyTable is immutable after construction; share it freely.
#ifndef RECONCILE_POLICY_H_
#define RECONCILE_POLICY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/key.h"
#include "reconcile/path.h"
#include "reconcile/site.h"
#include "reconcile/stamp.h"
#include "reconcile/status.h"

namespace reconcile {

// On-disk values (the policy table is stored in the store's meta): never change them.
enum class PolicyKind : uint8_t {
  kLww = 0,
  kOrder = 1,
  kMax = 2,
  kUnion = 3,
  kSitePriority = 4,
  kMulti = 5,
};

std::string_view PolicyName(PolicyKind kind);
Result<PolicyKind> ParsePolicyName(std::string_view name);

struct Policy {
  PolicyKind kind = PolicyKind::kLww;
  std::vector<std::string> order;  // kOrder: canonical JSON values, best first
  std::string priority_site_name;  // kSitePriority: the site's name
  SiteId priority_site;            // kSitePriority: SiteId::FromName(priority_site_name)
};

struct PolicyRule {
  // Kinds the rule applies to; empty means every kind.
  std::vector<KeyKind> kinds;
  // Pattern segments ("*" one segment, trailing "**" any suffix).
  std::vector<std::string> pattern;
  Policy policy;
};

class PolicyTable {
 public:
  // An empty table: lww everywhere.
  PolicyTable() = default;

  // The table reconcile uses unless told otherwise: for devices and modules, `status` is
  // `order` with "disabled" before "enabled" (a device disabled anywhere during the outage stays
  // disabled until someone enables it after seeing that); everything else lww.
  static PolicyTable Default();

  // Parses the JSON form:
  //   [{"kinds": ["device", "module", "meta"], "path": "status", "policy": "order",
  //     "order": ["disabled", "enabled"]}, {"path": "properties/desired/**", "policy":
  //     "site-priority", "site": "weu-primary"}, ...]
  // "kinds" may be omitted (all kinds). Errors name the rule's index.
  static Result<PolicyTable> Parse(std::string_view json_text);
  // The JSON form, canonical; Parse(ToJson()) gives an equal table.
  std::string ToJson() const;

  void Add(PolicyRule rule) { rules_.push_back(std::move(rule)); }
  const std::vector<PolicyRule>& rules() const { return rules_; }

  // The policy for `path` of a record of `kind`.
  const Policy& For(KeyKind kind, std::string_view joined_path) const;

 private:
  std::vector<PolicyRule> rules_;
};

// What a materialization depends on besides the state: identical at every site.
struct MergeView {
  // REQUIRES: not null. Default: a table with no rules (lww everywhere) owned by reconcile.
  const PolicyTable* policies = nullptr;
  // The fork point: the last hlc at which the sites were in sync. 0: none declared (every write
  // counts as after the fork point).
  Hlc fork_point = 0;
};

}  // namespace reconcile

#endif  // RECONCILE_POLICY_H_
