// reconcile/codec.h — the compact, versioned binary encoding of a RecordState.
//
// The grammar is written at the top of lib/core/codec.cc and in docs/FORMATS.md. Decoding never
// trusts its input: garbage, truncation or a broken invariant give kCorruption (an unknown format
// version kUnsupported), never a crash or undefined behaviour.
//
// Thread safety: pure functions.
#ifndef RECONCILE_CODEC_H_
#define RECONCILE_CODEC_H_

#include <string>
#include <string_view>
#include <vector>

#include "reconcile/record.h"

namespace reconcile {

// The version byte that starts every encoded state. Never reuse a number.
constexpr uint8_t kRecordCodecVersion = 1;

std::string EncodeRecord(const RecordState& state);
void EncodeRecordTo(const RecordState& state, std::string* out);  // appends
Result<RecordState> DecodeRecord(std::string_view bytes);

// The join of encoded states, computed on the bytes without building the states: *out becomes
// exactly EncodeRecord of the join of DecodeRecord(part) over `parts` (none: the empty state).
// Any part that DecodeRecord would refuse gives the same error, and *out is then unspecified.
// This is what the store's merge operator runs.
Status JoinEncodedRecords(const std::vector<std::string_view>& parts, std::string* out);

}  // namespace reconcile

#endif  // RECONCILE_CODEC_H_
