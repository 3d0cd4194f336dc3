// Comparing an extracted math answer with the reference, per dataset convention:
// GSM8K and AIME by number, CMATH by the CMATH paper's 1% rule, MATH-500 by normalized string
// then by value (math_expr.h). Extraction from the raw output is answer_extract.h's job.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace retort::eval {

// MATH answer normalization, after Hendrycks et al.'s strip_string, extended: no spaces,
// \left \right \! \, $ removed, \dfrac -> \frac, \frac12 -> \frac{1}{2}, degrees, percent and
// \text{} units dropped, a leading "x=" dropped, ".5" -> "0.5", thousands commas dropped,
// "a/b" -> \frac{a}{b}, "(C)" -> "C".
std::string normalize_math_answer(std::string_view answer);

// A number read from an answer such as "$1,234", "18 dollars", "\frac{3}{4}", "12%",
// "五分之三", "2又1/2", "x = 3.5", "5元", "15 cm^2". percent says a '%' was stripped
// (value is then the number as written, 12 for "12%").
struct NumericAnswer {
    double value = 0;
    bool percent = false;
};
std::optional<NumericAnswer> parse_numeric_answer(std::string_view answer);

// Chinese numerals to Arabic: "二十五" -> 25, "两千零三" -> 2003. nullopt if not one.
std::optional<long long> parse_chinese_integer(std::string_view text);
// Rewrites "B分之A" (A/B, Chinese or Arabic numerals), "百分之A" and "X又Y" in arithmetic.
std::string rewrite_chinese_numbers(std::string_view text);

// GSM8K: the reference is the text after the last "####" of the worked solution.
std::string gsm8k_reference(std::string_view worked_answer);

bool gsm8k_equal(std::string_view predicted, std::string_view reference);
// Integers compare exactly; otherwise |a-b| / (min(|a|,|b|) + 1e-6) < 0.01 (CMATH paper).
// A percentage compares either as written (12) or as a fraction (0.12).
bool cmath_equal(std::string_view predicted, std::string_view reference);
// AIME: integers 0-999, "025" equals "25".
bool aime_equal(std::string_view predicted, std::string_view reference);
// MATH-500: normalized strings, then by value; tuples and intervals element by element,
// unbracketed lists and sets in any order, matrices cell by cell.
bool math500_equal(std::string_view predicted, std::string_view reference);

}  // namespace retort::eval
