// The plan's identity hash read straight from a record's canonical text (IdentityOfText) against
// the document path it stands in for (IdentityDoc, RewriteScopes, IdentityMembers, IdentityHash):
// wherever the text path gives a hash it is the document path's, errors included; it declines
// only what it does not read plainly. rapidcheck prints its seed; RC_PARAMS="seed=N" reproduces
// a failure.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "lib/iothub/device_doc.h"
#include "lib/iothub/plan_text.h"
#include "reconcile/operations.h"

namespace reconcile::iothub {
namespace {

using nlohmann::json;

// The primary's scope of a device: one device's lookup fails, one device's scope has a byte the
// text path does not write plainly.
Result<std::string> PrimaryScope(const std::string& id) {
  if (id == "broken") return Status::IoError("the primary's index cannot be read");
  if (id == "quoted") return std::string("ms-azure-iot-edge://quoted-\"7\"");
  return "ms-azure-iot-edge://" + id + "-77";
}

const PrimaryScopeFn& ScopeFn() {
  static const PrimaryScopeFn fn = PrimaryScope;
  return fn;
}

// Values a member may take: absent or one of `plain` three times in four (the text path reads
// those), else anything of `odd`, null included (what it must decline, map or fail on).
rc::Gen<std::optional<json>> Member(std::vector<json> plain, std::vector<json> odd) {
  std::vector<std::optional<json>> usual{std::nullopt};
  for (json& v : plain) usual.emplace_back(std::move(v));
  std::vector<std::optional<json>> other{std::nullopt, json(nullptr)};
  for (json& v : odd) other.emplace_back(std::move(v));
  return rc::gen::weightedOneOf<std::optional<json>>(
      {{3, rc::gen::elementOf(usual)}, {1, rc::gen::elementOf(other)}});
}

const std::vector<json>& Scopes() {
  static const std::vector<json> scopes = {"ms-azure-iot-edge://edge1-123",
                                           "ms-azure-iot-edge://edge2-9",
                                           "ms-azure-iot-edge://broken-5",
                                           "ms-azure-iot-edge://quoted-1",
                                           "ms-azure-iot-edge://a,b-9",
                                           "ms-azure-iot-edge://edge\u00e9-2",
                                           "ms-azure-iot-edge://x\"y-1",
                                           "ms-azure-iot-edge://edge3-",
                                           "not-a-scope",
                                           "",
                                           "a,\"b\",c"};
  return scopes;
}

rc::Gen<json> Document() {
  return rc::gen::exec([] {
    json doc = json::object();
    auto put = [&](const char* name, const std::optional<json>& v) {
      if (v) doc[name] = *v;
    };
    const json key_text = *rc::gen::elementOf(
        std::vector<json>{"c2VjcmV0LWtleS0x", "a\"b", "\u00fcnicode", "ctl\u0001", "plus+/slash="});
    json sas = {{"type", "sas"},
                {"symmetricKey", {{"primaryKey", key_text}, {"secondaryKey", "c2Vjb25k"}}}};
    json x509 = {
        {"type", "selfSigned"},
        {"x509Thumbprint", {{"primaryThumbprint", "AB12"}, {"secondaryThumbprint", nullptr}}}};
    put("authentication", *Member({sas, x509}, {json::object(), "sas", 3, 1.5}));
    put("capabilities", *Member({{{"iotEdge", true}}, {{"iotEdge", false}}},
                                {json::object(), {{"iotEdge", 1}}, {{"iotEdge", true}, {"x", 1}}}));
    std::vector<json> odd_scopes = Scopes();
    odd_scopes.push_back(5);
    put("deviceScope", *Member({Scopes()[0], Scopes()[1], Scopes()[3], Scopes()[8]}, odd_scopes));
    const std::vector<json> parents = *rc::gen::container<std::vector<json>>(
        *rc::gen::inRange<size_t>(0, 4), rc::gen::elementOf(Scopes()));
    const std::vector<json> plain_parents = *rc::gen::container<std::vector<json>>(
        *rc::gen::inRange<size_t>(0, 3),
        rc::gen::elementOf(std::vector<json>{Scopes()[0], Scopes()[1], Scopes()[8]}));
    put("parentScopes", *Member({json(plain_parents)},
                                {json(parents), json::array({1}), "ms-azure-iot-edge://edge1-1",
                                 json::array({json::array({"x"})})}));
    put("status", *Member({"enabled", "disabled"}, {"d\u00e9sactiv\u00e9", "a\\b", 3}));
    put("statusReason", *Member({"", "because"}, {"tab\there", 7}));
    doc["tags"] = {{"site", *rc::gen::elementOf(std::vector<std::string>{"weu", "neu"})}};
    doc["properties"] = {{"desired", {{"rate", *rc::gen::inRange(0, 100)}}},
                         {"reported", {{"fw", "1.2"}}}};
    return doc;
  });
}

struct DocPath {
  Status status;
  Hash128 hash;
  bool has_auth = false;
};

DocPath ThroughTheDocument(const DocText& text, bool is_module, bool no_keys,
                           const std::string& device_id) {
  DocPath out;
  json doc;
  if (!IdentityDoc(text, &doc)) {
    out.status = Status::Corruption("identity members do not parse");
    return out;
  }
  if (!is_module) out.status = RewriteScopes(device_id, ScopeFn(), doc);
  if (!out.status.ok()) return out;
  const std::string members = IdentityMembers(doc, is_module);
  const json* auth = PresentMember(doc, "authentication");
  out.has_auth = auth != nullptr;
  out.hash = auth ? IdentityHash(members, *auth, no_keys) : IdentityNoAuthHash(members);
  return out;
}

RC_GTEST_PROP(PlanText, TheTextsIdentityHashIsTheDocumentsWhereverItIsGiven, ()) {
  const json doc = *Document();
  const bool is_module = *rc::gen::arbitrary<bool>();
  const bool no_keys = *rc::gen::weightedElement<bool>({{1, true}, {7, false}});
  const std::string device_id =
      *rc::gen::elementOf(std::vector<std::string>{"dev1", "edge1", "broken", "quoted"});
  DocText text;
  text.text = CanonicalJson(doc);
  RC_ASSERT(ScanDocText(&text));

  const Result<std::optional<TextIdentity>> fast =
      IdentityOfText(text, is_module, no_keys, device_id, ScopeFn());
  const DocPath slow = ThroughTheDocument(text, is_module, no_keys, device_id);
  RC_CLASSIFY(fast.ok() && fast->has_value(), "text path gave a hash");
  RC_CLASSIFY(!fast.ok(), "text path failed");
  if (!fast.ok()) {
    RC_ASSERT(!slow.status.ok());
    RC_ASSERT(fast.status().ToString() == slow.status.ToString());
    return;
  }
  if (!fast->has_value()) return;  // declined: the document path decides
  RC_ASSERT(!no_keys);
  RC_ASSERT(slow.status.ok());
  RC_ASSERT((*fast)->hash == slow.hash);
  RC_ASSERT((*fast)->has_auth == slow.has_auth);
}

// The records a failback meets most (plain keys and scopes) take the text path.
TEST(PlanText, TypicalRecordsTakeTheTextPath) {
  const json sas = {{"type", "sas"},
                    {"symmetricKey", {{"primaryKey", "cHJpbWFyeQ=="}, {"secondaryKey", "c2Vj"}}}};
  const std::vector<std::pair<json, bool>> records = {
      {{{"authentication", sas},
        {"capabilities", {{"iotEdge", false}}},
        {"status", "enabled"},
        {"tags", json::object()}},
       false},
      {{{"authentication", sas},
        {"capabilities", {{"iotEdge", true}}},
        {"deviceScope", "ms-azure-iot-edge://edge1-1"},
        {"parentScopes", {"ms-azure-iot-edge://edge2-9"}},
        {"status", "disabled"},
        {"statusReason", "retired"}},
       false},
      {{{"authentication", sas}, {"capabilities", {{"iotEdge", true}}}}, false},  // own scope
      {{{"authentication", sas}, {"status", "enabled"}}, true},                   // a module
      {{{"status", "enabled"}, {"capabilities", {{"iotEdge", false}}}}, false},   // no auth
  };
  for (const auto& [doc, is_module] : records) {
    DocText text;
    text.text = CanonicalJson(doc);
    ASSERT_TRUE(ScanDocText(&text));
    Result<std::optional<TextIdentity>> fast =
        IdentityOfText(text, is_module, false, "edge1", ScopeFn());
    ASSERT_TRUE(fast.ok()) << fast.status().ToString();
    ASSERT_TRUE(fast->has_value()) << text.text;
    const DocPath slow = ThroughTheDocument(text, is_module, false, "edge1");
    ASSERT_TRUE(slow.status.ok());
    EXPECT_EQ((*fast)->hash, slow.hash) << text.text;
    EXPECT_EQ((*fast)->has_auth, doc.contains("authentication")) << text.text;
  }
}

}  // namespace
}  // namespace reconcile::iothub
