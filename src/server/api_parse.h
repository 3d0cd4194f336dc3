// Request bodies -> ApiRequest. Every field is checked once here (type, range, the OpenAI
// rules such as n = 1 and top_logprobs needing logprobs); nlohmann exceptions never escape.
// A JSON null counts as an absent field, as the SDKs sometimes send one.
#pragma once

#include "server/api_types.h"

#include <string_view>
#include <variant>

namespace retort {

// An ApiRequest, or the 400 that explains what is wrong.
using ParsedRequest = std::variant<ApiRequest, ApiError>;

ParsedRequest parse_api_request(std::string_view body, ApiKind kind);

}  // namespace retort
