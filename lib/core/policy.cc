#include "reconcile/policy.h"

#include <nlohmann/json.hpp>

#include "reconcile/operations.h"

namespace reconcile {
namespace {

const Policy& LwwPolicy() {
  static const Policy kLww;
  return kLww;
}

// True when `pattern` matches the joined path.
bool Matches(const std::vector<std::string>& pattern, std::string_view path) {
  size_t pos = 0;
  const bool root = path.empty();
  for (size_t i = 0; i < pattern.size(); ++i) {
    const std::string& seg = pattern[i];
    if (seg == "**" && i + 1 == pattern.size()) return true;
    if (root || pos > path.size()) return false;
    size_t sep = path.find(kPathSeparator, pos);
    std::string_view here =
        path.substr(pos, sep == std::string_view::npos ? std::string_view::npos : sep - pos);
    if (seg != "*" && seg != here) return false;
    pos = sep == std::string_view::npos ? path.size() + 1 : sep + 1;
  }
  // All pattern segments used: the path must be used up too.
  return root ? pattern.empty() : pos == path.size() + 1;
}

std::string_view KindName(KeyKind kind) {
  switch (kind) {
    case KeyKind::kDevice: return "device";
    case KeyKind::kModule: return "module";
    case KeyKind::kMeta: return "meta";
  }
  return "?";
}

}  // namespace

std::string_view PolicyName(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kLww: return "lww";
    case PolicyKind::kOrder: return "order";
    case PolicyKind::kMax: return "max";
    case PolicyKind::kUnion: return "union";
    case PolicyKind::kSitePriority: return "site-priority";
    case PolicyKind::kMulti: return "multi";
  }
  return "?";
}

Result<PolicyKind> ParsePolicyName(std::string_view name) {
  for (PolicyKind k : {PolicyKind::kLww, PolicyKind::kOrder, PolicyKind::kMax, PolicyKind::kUnion,
                       PolicyKind::kSitePriority, PolicyKind::kMulti}) {
    if (PolicyName(k) == name) return k;
  }
  return Status::InvalidInput("unknown policy '" + std::string(name) +
                              "' (lww, order, max, union, site-priority, multi)");
}

PolicyTable PolicyTable::Default() {
  PolicyTable t;
  PolicyRule status;
  status.kinds = {KeyKind::kDevice, KeyKind::kModule};
  status.pattern = {"status"};
  status.policy.kind = PolicyKind::kOrder;
  status.policy.order = {"\"disabled\"", "\"enabled\""};
  t.Add(std::move(status));
  return t;
}

const Policy& PolicyTable::For(KeyKind kind, std::string_view joined_path) const {
  for (const PolicyRule& rule : rules_) {
    if (!rule.kinds.empty() &&
        std::find(rule.kinds.begin(), rule.kinds.end(), kind) == rule.kinds.end()) {
      continue;
    }
    if (Matches(rule.pattern, joined_path)) return rule.policy;
  }
  return LwwPolicy();
}

Result<PolicyTable> PolicyTable::Parse(std::string_view json_text) {
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_array()) {
    return Status::InvalidInput("a policy table is a JSON array of rules");
  }
  PolicyTable table;
  for (size_t i = 0; i < doc.size(); ++i) {
    const nlohmann::json& r = doc[i];
    auto bad = [i](const std::string& why) {
      return Status::InvalidInput("policy rule " + std::to_string(i) + ": " + why);
    };
    if (!r.is_object()) return bad("not an object");
    PolicyRule rule;
    if (r.contains("kinds")) {
      if (!r["kinds"].is_array()) return bad("\"kinds\" must be an array");
      for (const auto& k : r["kinds"]) {
        if (k == "device") rule.kinds.push_back(KeyKind::kDevice);
        else if (k == "module") rule.kinds.push_back(KeyKind::kModule);
        else if (k == "meta") rule.kinds.push_back(KeyKind::kMeta);
        else return bad("unknown kind " + k.dump() + " (device, module, meta)");
      }
    }
    if (!r.contains("path") || !r["path"].is_string()) return bad("\"path\" must be a string");
    std::string path = r["path"];
    if (!path.empty()) {
      size_t start = 0;
      while (true) {
        size_t slash = path.find('/', start);
        std::string seg = path.substr(start, slash == std::string::npos ? slash : slash - start);
        if (seg.empty()) return bad("empty segment in path '" + path + "'");
        if (seg == "**" && slash != std::string::npos) return bad("'**' must be last");
        rule.pattern.push_back(seg);
        if (slash == std::string::npos) break;
        start = slash + 1;
      }
    }
    if (!r.contains("policy") || !r["policy"].is_string()) {
      return bad("\"policy\" must be a string");
    }
    Result<PolicyKind> kind = ParsePolicyName(r["policy"].get<std::string>());
    if (!kind.ok()) return bad(kind.status().message());
    rule.policy.kind = *kind;
    if (*kind == PolicyKind::kOrder) {
      if (!r.contains("order") || !r["order"].is_array() || r["order"].empty()) {
        return bad("\"order\" policy needs a non-empty \"order\" array");
      }
      for (const auto& v : r["order"]) rule.policy.order.push_back(CanonicalJson(v));
    }
    if (*kind == PolicyKind::kSitePriority) {
      if (!r.contains("site") || !r["site"].is_string()) {
        return bad("\"site-priority\" policy needs a \"site\" name");
      }
      std::string site = r["site"];
      Status s = ValidateSiteName(site);
      if (!s.ok()) return bad(s.message());
      rule.policy.priority_site_name = site;
      rule.policy.priority_site = SiteId::FromName(site);
    }
    table.Add(std::move(rule));
  }
  return table;
}

std::string PolicyTable::ToJson() const {
  nlohmann::json out = nlohmann::json::array();
  for (const PolicyRule& rule : rules_) {
    nlohmann::json r;
    if (!rule.kinds.empty()) {
      r["kinds"] = nlohmann::json::array();
      for (KeyKind k : rule.kinds) r["kinds"].push_back(std::string(KindName(k)));
    }
    std::string path;
    for (const std::string& seg : rule.pattern) {
      if (!path.empty()) path += '/';
      path += seg;
    }
    r["path"] = path;
    r["policy"] = std::string(PolicyName(rule.policy.kind));
    if (rule.policy.kind == PolicyKind::kOrder) {
      r["order"] = nlohmann::json::array();
      for (const std::string& v : rule.policy.order) {
        r["order"].push_back(nlohmann::json::parse(v, nullptr, false));
      }
    }
    if (rule.policy.kind == PolicyKind::kSitePriority) r["site"] = rule.policy.priority_site_name;
    out.push_back(std::move(r));
  }
  return CanonicalJson(out);
}

}  // namespace reconcile
