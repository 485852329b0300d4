// Fuzz target: DecodeRecord on arbitrary bytes (what a store's values and merge operands are).
//
// Input: the bytes to decode.
// Invariants: decoding never crashes and fails only with kCorruption (or kUnsupported for another
// version byte); JoinEncodedRecords (the merge operator's join on the bytes) refuses the same bytes
// with the same status and, given the state alone or with itself, gives its encoding. A state that
// decodes is valid, encodes to bytes that decode to the same state and encode to the same bytes
// again (the encoding is canonical), joins with itself to itself, and prunes to a state that prunes
// to itself and materializes (with every policy kind) exactly as the unpruned state does.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"

namespace reconcile::fuzz {
namespace {

// One rule of every policy kind, for devices and meta records.
const PolicyTable& AllPolicies() {
  static const PolicyTable table = [] {
    Result<PolicyTable> t = PolicyTable::Parse(R"([
      {"path": "status", "policy": "order", "order": ["disabled", "enabled"]},
      {"path": "properties/reported/**", "policy": "max"},
      {"path": "parentScopes", "policy": "union"},
      {"path": "tags/**", "policy": "union"},
      {"path": "properties/desired/**", "policy": "site-priority", "site": "weu-primary"},
      {"kinds": ["meta"], "path": "**", "policy": "multi"}])");
    FUZZ_CHECK(t.ok(), t.status().ToString());
    return std::move(t).value();
  }();
  return table;
}

void CheckMaterializeUnchangedByPrune(const RecordState& state, const RecordState& pruned,
                                      KeyKind kind, const MergeView& view) {
  Result<std::optional<json>> before = MaterializeJson(kind, state, view);
  if (!before.ok()) {
    // Only a value that is not JSON (bytes from outside) may fail a materialization.
    FUZZ_CHECK(before.status().IsCorruption(), before.status().ToString());
    return;
  }
  Result<std::optional<json>> after = MaterializeJson(kind, pruned, view);
  FUZZ_CHECK(after.ok(), "pruning made a state fail to materialize: " + after.status().ToString());
  FUZZ_CHECK(*before == *after, "pruning changed what materializes: " +
                                    (before->has_value() ? (*before)->dump() : "absent") + " vs " +
                                    (after->has_value() ? (*after)->dump() : "absent"));
}

}  // namespace
}  // namespace reconcile::fuzz

RECONCILE_FUZZ_TARGET(bytes) {
  Result<RecordState> decoded = DecodeRecord(bytes);
  // The merge operator's join on the bytes decodes exactly as DecodeRecord does.
  std::string joined_bytes;
  const Status joined = JoinEncodedRecords({bytes}, &joined_bytes);
  if (!decoded.ok()) {
    const Status s = decoded.status();
    const bool other_version = !bytes.empty() && bytes[0] != static_cast<char>(kRecordCodecVersion);
    FUZZ_CHECK(other_version ? s.code() == Code::kUnsupported : s.IsCorruption(), s.ToString());
    FUZZ_CHECK(joined.code() == s.code() && joined.message() == s.message(),
               "JoinEncodedRecords refused with \"" + joined.ToString() +
                   "\", DecodeRecord with \"" + s.ToString() + "\"");
    return;
  }
  const RecordState& state = *decoded;
  Status valid = state.Validate();
  FUZZ_CHECK(valid.ok(), "a decoded state is invalid: " + valid.ToString());

  const std::string encoded = EncodeRecord(state);
  Result<RecordState> again = DecodeRecord(encoded);
  FUZZ_CHECK(again.ok(), "re-encoded state does not decode: " + again.status().ToString());
  FUZZ_CHECK(*again == state, "decode(encode(state)) differs from state");
  FUZZ_CHECK(EncodeRecord(*again) == encoded, "the encoding is not canonical");
  FUZZ_CHECK(joined.ok() && joined_bytes == encoded,
             "JoinEncodedRecords of one state is not its encoding: " + joined.ToString());
  const Status twice_joined = JoinEncodedRecords({bytes, encoded, bytes}, &joined_bytes);
  FUZZ_CHECK(twice_joined.ok() && joined_bytes == encoded,
             "JoinEncodedRecords of a state with itself is not its encoding");
  std::string appended = "prefix";
  EncodeRecordTo(state, &appended);
  FUZZ_CHECK(appended == "prefix" + encoded, "EncodeRecordTo does not append EncodeRecord");

  FUZZ_CHECK(RecordState::Joined(state, state) == state, "join is not idempotent");
  RecordState pruned = state;
  pruned.Prune();
  FUZZ_CHECK(pruned.Validate().ok(), "pruning broke the invariants");
  RecordState twice = pruned;
  twice.Prune();
  FUZZ_CHECK(twice == pruned, "prune is not idempotent");
  FUZZ_CHECK(pruned.MaxHlc() <= state.MaxHlc(), "pruning raised the greatest stamp");

  const MergeView lww{&LwwTable(), 0};
  const MergeView policies{&AllPolicies(), state.MaxHlc() / 2};
  for (KeyKind kind : {KeyKind::kDevice, KeyKind::kMeta}) {
    CheckMaterializeUnchangedByPrune(state, pruned, kind, lww);
    CheckMaterializeUnchangedByPrune(state, pruned, kind, policies);
  }
}
