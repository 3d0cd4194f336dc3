// Math answer comparison (see math_compare.h).
#include "eval/math_compare.h"

#include "eval/answer_extract.h"
#include "eval/math_expr.h"
#include "eval/text.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace retort::eval {

namespace {

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

// Index just past the brace group that opens at s[open] == '{', or npos if unbalanced.
size_t match_brace(std::string_view s, size_t open) {
    int depth = 0;
    for (size_t i = open; i < s.size(); ++i) {
        if (s[i] == '{') ++depth;
        else if (s[i] == '}' && --depth == 0) return i + 1;
    }
    return std::string_view::npos;
}

// Removes "\name" when not followed by a letter ("\left" but not "\leftarrow").
std::string remove_command(std::string s, std::string_view name) {
    const std::string pat = "\\" + std::string(name);
    size_t pos = 0;
    while ((pos = s.find(pat, pos)) != std::string::npos) {
        const size_t end = pos + pat.size();
        if (end < s.size() && is_alpha(s[end])) {
            pos = end;
            continue;
        }
        s.erase(pos, pat.size());
    }
    return s;
}

// A "^2" / "^{2}" right after a unit ("cm^2").
size_t skip_unit_power(std::string_view s, size_t i) {
    size_t j = i;
    while (j < s.size() && s[j] == ' ') ++j;
    if (j + 1 < s.size() && s[j] == '^') {
        if (is_digit(s[j + 1])) return j + 2;
        if (s[j + 1] == '{') {
            const size_t e = match_brace(s, j + 1);
            if (e != std::string_view::npos) return e;
        }
    }
    return i;
}

// \text{...}, \mbox{...}, \mathrm{...}: text at the very start is the answer ("\text{east}",
// "\text{(C)}") and is unwrapped; text after something else is a unit and is dropped with
// any power after it ("5.4 \text{ cents}", "864 \mbox{ inches}^2").
std::string drop_text_units(std::string s) {
    static constexpr std::string_view kCommands[] = {"\\text", "\\textbf", "\\textnormal", "\\mbox", "\\mathrm",
                                                     "\\textrm", "\\mathbf"};
    for (;;) {
        size_t best = std::string::npos, cmd_len = 0;
        for (std::string_view c : kCommands) {
            size_t p = 0;
            while ((p = s.find(c, p)) != std::string::npos) {
                if (p + c.size() < s.size() && s[p + c.size()] == '{') break;
                p += c.size();
            }
            if (p != std::string::npos && p < best) {
                best = p;
                cmd_len = c.size();
            }
        }
        if (best == std::string::npos) return s;
        const size_t open = best + cmd_len;
        const size_t close = match_brace(s, open);
        if (close == std::string::npos) return s;
        const std::string content(s.substr(open + 1, close - open - 2));
        const bool leading = trim(std::string_view(s).substr(0, best)).empty();
        const bool has_digit = std::any_of(content.begin(), content.end(), is_digit);
        if (leading || has_digit) {
            s.replace(best, close - best, content);
        } else {
            const size_t end = skip_unit_power(s, close);
            s.erase(best, end - best);
        }
    }
}

// "\frac12" -> "\frac{1}{2}", "\frac{270}7" -> "\frac{270}{7}", "\sqrt2" -> "\sqrt{2}".
std::string brace_shorthand_args(std::string s) {
    for (std::string_view cmd : {std::string_view("\\frac"), std::string_view("\\sqrt")}) {
        const int n_args = cmd == "\\frac" ? 2 : 1;
        size_t pos = 0;
        while ((pos = s.find(cmd, pos)) != std::string::npos) {
            size_t i = pos + cmd.size();
            for (int a = 0; a < n_args && i < s.size(); ++a) {
                while (i < s.size() && s[i] == ' ') s.erase(i, 1);
                if (i >= s.size()) break;
                if (s[i] == '{') {
                    const size_t e = match_brace(s, i);
                    if (e == std::string::npos) break;
                    i = e;
                } else if (s[i] == '[' && cmd == "\\sqrt") {
                    const size_t e = s.find(']', i);
                    if (e == std::string::npos) break;
                    i = e + 1;
                    --a;  // the index does not count as the argument
                } else if (std::isalnum(static_cast<unsigned char>(s[i]))) {
                    s.insert(i + 1, "}");
                    s.insert(i, "{");
                    i += 3;
                } else {
                    break;
                }
            }
            pos += cmd.size();
        }
    }
    return s;
}

// "1,234,567" (only whole thousands groups) -> "1234567".
bool is_grouped_number(std::string_view s) {
    size_t i = 0;
    if (i < s.size() && s[i] == '-') ++i;
    const size_t d0 = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    const size_t lead = i - d0;
    if (lead == 0 || lead > 3 || i >= s.size() || s[i] != ',') return false;
    while (i < s.size() && s[i] == ',') {
        if (i + 3 >= s.size() || !(is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 3]))) return false;
        i += 4;
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        while (i < s.size() && is_digit(s[i])) ++i;
    }
    return i == s.size();
}

// Removes "," between a digit and exactly three digits ("1,234 apples" -> "1234 apples").
std::string drop_thousands_commas(std::string s) {
    for (size_t i = 1; i + 3 < s.size(); ++i) {
        if (s[i] == ',' && is_digit(s[i - 1]) && is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 3]) &&
            (i + 4 >= s.size() || !is_digit(s[i + 4]))) {
            s.erase(i, 1);
        }
    }
    return s;
}

std::string strip_trailing(std::string s, std::string_view chars) {
    while (!s.empty() && chars.find(s.back()) != std::string_view::npos) s.pop_back();
    return s;
}

// Splits at top-level commas (outside () [] {} and \{ \}).
std::vector<std::string> split_top_level(std::string_view s, std::string_view sep = ",") {
    std::vector<std::string> parts;
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) {
            depth += s[i + 1] == '{' ? 1 : -1;
            ++i;
            continue;
        }
        if (c == '(' || c == '[' || c == '{') ++depth;
        else if (c == ')' || c == ']' || c == '}') --depth;
        else if (depth == 0 && s.compare(i, sep.size(), sep) == 0) {
            parts.emplace_back(s.substr(start, i - start));
            start = i + sep.size();
            i = start - 1;
        }
    }
    parts.emplace_back(s.substr(start));
    return parts;
}

// Decimal number, "a/b", optionally "-" and thousands commas: the fallback when the
// expression parser refuses the text.
std::optional<double> parse_simple_number(std::string_view s) {
    std::string t = drop_thousands_commas(std::string(trim(s)));
    if (t.empty()) return std::nullopt;
    const size_t slash = t.find('/');
    char* end = nullptr;
    if (slash != std::string::npos) {
        const std::string a = t.substr(0, slash), b = t.substr(slash + 1);
        const double num = std::strtod(a.c_str(), &end);
        if (end != a.c_str() + a.size() || a.empty()) return std::nullopt;
        const double den = std::strtod(b.c_str(), &end);
        if (end != b.c_str() + b.size() || b.empty() || den == 0) return std::nullopt;
        return num / den;
    }
    const double v = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size()) return std::nullopt;
    return v;
}

int chinese_digit(uint32_t cp) {
    switch (cp) {
        case 0x96F6: case 0x3007: return 0;  // 零 〇
        case 0x4E00: return 1;               // 一
        case 0x4E8C: case 0x4E24: return 2;  // 二 两
        case 0x4E09: return 3;               // 三
        case 0x56DB: return 4;               // 四
        case 0x4E94: return 5;               // 五
        case 0x516D: return 6;               // 六
        case 0x4E03: return 7;               // 七
        case 0x516B: return 8;               // 八
        case 0x4E5D: return 9;               // 九
        default: return -1;
    }
}

long long chinese_unit(uint32_t cp) {
    switch (cp) {
        case 0x5341: return 10;     // 十
        case 0x767E: return 100;    // 百
        case 0x5343: return 1000;   // 千
        case 0x4E07: return 10000;  // 万
        default: return 0;
    }
}

bool is_chinese_numeral(uint32_t cp) { return chinese_digit(cp) >= 0 || chinese_unit(cp) > 0; }

// One side of "分之": a run of Arabic digits (and '.') or of Chinese numerals, as a number.
std::optional<std::string> numeral_text(std::string_view s) {
    if (s.empty()) return std::nullopt;
    if (std::all_of(s.begin(), s.end(), [](char c) { return is_digit(c) || c == '.'; })) return std::string(s);
    if (auto v = parse_chinese_integer(s)) return std::to_string(*v);
    return std::nullopt;
}

}  // namespace

std::optional<long long> parse_chinese_integer(std::string_view text) {
    long long total = 0, section = 0, digit = -1;
    size_t i = 0;
    bool any = false;
    while (i < text.size()) {
        const uint32_t cp = next_code_point(text, i);
        const int d = chinese_digit(cp);
        if (d >= 0) {
            digit = d;
            any = true;
            continue;
        }
        const long long unit = chinese_unit(cp);
        if (unit == 0) return std::nullopt;
        any = true;
        if (unit == 10000) {
            total += (section + std::max(digit, 0LL)) * unit;
            section = 0;
        } else {
            section += (digit < 0 ? 1 : digit) * unit;  // "十五" = 15: a bare 十 means 一十
        }
        digit = -1;
        if (total > 1'000'000'000LL) return std::nullopt;
    }
    if (!any) return std::nullopt;
    return total + section + std::max(digit, 0LL);
}

std::string rewrite_chinese_numbers(std::string_view text) {
    // Work on code points so runs of numerals can be found on both sides of 分之 / 又.
    std::vector<uint32_t> cps;
    for (size_t i = 0; i < text.size();) cps.push_back(next_code_point(text, i));
    auto numeral_or_digit = [](uint32_t cp) { return is_chinese_numeral(cp) || (cp >= '0' && cp <= '9') || cp == '.'; };
    auto to_utf8 = [](const std::vector<uint32_t>& v, size_t b, size_t e) {
        std::string s;
        for (size_t k = b; k < e; ++k) append_utf8(s, v[k]);
        return s;
    };
    std::string out;
    size_t i = 0;
    while (i < cps.size()) {
        // Find the next "分之" (U+5206 U+4E4B).
        size_t k = i;
        while (k + 1 < cps.size() && !(cps[k] == 0x5206 && cps[k + 1] == 0x4E4B)) ++k;
        if (k + 1 >= cps.size()) {
            out += to_utf8(cps, i, cps.size());
            break;
        }
        size_t db = k;  // denominator run ends at k
        while (db > i && numeral_or_digit(cps[db - 1])) --db;
        size_t ne = k + 2;
        while (ne < cps.size() && numeral_or_digit(cps[ne])) ++ne;
        const auto den = numeral_text(to_utf8(cps, db, k));
        const auto num = numeral_text(to_utf8(cps, k + 2, ne));
        if (den && num) {
            out += to_utf8(cps, i, db);
            out += "(" + *num + ")/(" + *den + ")";
        } else {
            out += to_utf8(cps, i, ne);
        }
        i = ne;
    }
    // "2又(3)/(4)" -> "2+(3)/(4)": 又 (U+53C8) joins a whole number and a fraction.
    return replace_all(out, "\xE5\x8F\x88", "+");
}

std::string normalize_math_answer(std::string_view answer) {
    std::string s = fold_unicode(trim(answer));
    s = replace_all(s, "\n", "");
    for (std::string_view sp : {"\\!", "\\,", "\\;", "\\:", "\\quad", "\\qquad", "~"}) s = replace_all(s, sp, "");
    s = remove_command(s, "left");
    s = remove_command(s, "right");
    s = remove_command(s, "displaystyle");
    s = replace_all(s, "\\dfrac", "\\frac");
    s = replace_all(s, "\\tfrac", "\\frac");
    s = replace_all(s, "\\dbinom", "\\binom");
    for (std::string_view deg : {"^{\\circ}", "^\\circ", "\\degree", "\\circ"}) s = replace_all(s, deg, "");
    s = replace_all(s, "\\$", "");
    s = replace_all(s, "$", "");
    s = replace_all(s, "\\%", "");
    s = replace_all(s, "%", "");
    s = drop_text_units(s);
    s = brace_shorthand_args(s);
    s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
    // A leading "x=" or "k=" names the unknown; "x\in" introduces an interval.
    if (s.size() > 2 && is_alpha(s[0]) && s[1] == '=' && s.find('=', 2) == std::string::npos) s = s.substr(2);
    if (s.size() > 4 && is_alpha(s[0]) && s.compare(1, 3, "\\in") == 0 && !is_alpha(s[4])) s = s.substr(4);
    // "_{8}" -> "_8" for base subscripts.
    for (size_t p = 0; (p = s.find("_{", p)) != std::string::npos;) {
        const size_t e = match_brace(s, p + 1);
        if (e != std::string::npos && e - p - 3 <= 3 &&
            std::all_of(s.begin() + p + 2, s.begin() + e - 1, [](char c) { return std::isalnum(static_cast<unsigned char>(c)); })) {
            s.erase(e - 1, 1);
            s.erase(p + 1, 1);
        }
        ++p;
    }
    // ".5" -> "0.5"
    for (size_t p = 0; p < s.size(); ++p)
        if (s[p] == '.' && p + 1 < s.size() && is_digit(s[p + 1]) && (p == 0 || !is_digit(s[p - 1]))) s.insert(p++, "0");
    s = strip_trailing(s, ".");
    if (is_grouped_number(s)) s.erase(std::remove(s.begin(), s.end(), ','), s.end());
    // "a/b" with integers -> \frac{a}{b}
    const size_t slash = s.find('/');
    if (slash != std::string::npos && slash > 0 && slash + 1 < s.size() &&
        std::all_of(s.begin() + (s[0] == '-' ? 1 : 0), s.begin() + slash, is_digit) &&
        std::all_of(s.begin() + slash + 1, s.end(), is_digit) && (s[0] != '-' || slash > 1)) {
        const bool neg = s[0] == '-';
        s = std::string(neg ? "-" : "") + "\\frac{" + s.substr(neg ? 1 : 0, slash - (neg ? 1 : 0)) + "}{" +
            s.substr(slash + 1) + "}";
    }
    // "(C)" -> "C" for multiple choice.
    if (s.size() == 3 && s[0] == '(' && s[2] == ')' && std::isupper(static_cast<unsigned char>(s[1]))) s = s.substr(1, 1);
    return s;
}

std::optional<NumericAnswer> parse_numeric_answer(std::string_view answer) {
    std::string s = rewrite_chinese_numbers(fold_unicode(trim(answer)));
    s = drop_text_units(s);
    for (std::string_view sp : {"\\!", "\\,", "\\;", "\\:", "\\$", "$", "^{\\circ}", "^\\circ", "\\circ", "\\degree"})
        s = replace_all(s, sp, "");
    s = replace_all(s, "\\%", "%");
    s = replace_all(s, "\\dfrac", "\\frac");
    s = replace_all(s, "\\tfrac", "\\frac");
    // "3 \times 6 = 18": the value is on the right of the last '=' or \approx.
    for (std::string_view eq : {"=", "\\approx", "\xE2\x89\x88"}) {
        const size_t p = s.rfind(eq);
        if (p != std::string::npos) s = s.substr(p + eq.size());
    }
    // Drop units: words (not \commands), CJK characters, and a power after a unit.
    std::string kept;
    for (size_t i = 0; i < s.size();) {
        if (s[i] == '\\') {
            size_t e = i + 1;
            while (e < s.size() && is_alpha(s[e])) ++e;
            kept.append(s, i, std::max(e, i + 2) - i);
            i = std::max(e, i + 2);
            continue;
        }
        if (is_alpha(s[i]) || static_cast<unsigned char>(s[i]) >= 0x80) {
            size_t e = i;
            while (e < s.size() && (is_alpha(s[e]) || static_cast<unsigned char>(s[e]) >= 0x80 ||
                                    (s[e] == ' ' && e + 1 < s.size() && is_alpha(s[e + 1])))) {
                if (static_cast<unsigned char>(s[e]) >= 0x80) {
                    next_code_point(s, e);
                } else {
                    ++e;
                }
            }
            i = skip_unit_power(s, e);
            kept += ' ';
            continue;
        }
        kept += s[i++];
    }
    s = drop_thousands_commas(std::string(trim(kept)));
    s = strip_trailing(s, ".:;, ");
    s = std::string(trim(s));
    NumericAnswer out;
    if (!s.empty() && s.back() == '%') {
        out.percent = true;
        s.pop_back();
        s = std::string(trim(s));
    }
    if (s.empty()) return std::nullopt;
    if (auto v = evaluate_constant(s)) {
        out.value = *v;
        return out;
    }
    // Not an expression ("3, 5", "18 / day"): fall back to the last number written.
    const auto last = last_number(s);
    if (!last) return std::nullopt;
    std::string t = *last;
    if (!t.empty() && t.back() == '%') {
        out.percent = true;
        t.pop_back();
    }
    const auto v = parse_simple_number(t);
    if (!v) return std::nullopt;
    out.value = *v;
    return out;
}

std::string gsm8k_reference(std::string_view worked_answer) {
    const size_t p = worked_answer.rfind("####");
    std::string ref(trim(p == std::string_view::npos ? worked_answer : worked_answer.substr(p + 4)));
    ref.erase(std::remove(ref.begin(), ref.end(), ','), ref.end());
    return ref;
}

namespace {

// Values a number may stand for: 12% is 12 as written and 0.12 as a fraction.
std::vector<double> candidates(const NumericAnswer& a) {
    if (a.percent) return {a.value, a.value / 100.0};
    return {a.value};
}

bool is_integral(double v) { return std::fabs(v - std::round(v)) < 1e-9 && std::fabs(v) < 1e15; }

}  // namespace

bool gsm8k_equal(std::string_view predicted, std::string_view reference) {
    const auto p = parse_numeric_answer(predicted);
    const auto r = parse_numeric_answer(reference);
    if (!p || !r) return false;
    for (double pv : candidates(*p))
        for (double rv : candidates(*r))
            if (nearly_equal(pv, rv, 1e-6, 1e-6)) return true;
    return false;
}

bool cmath_equal(std::string_view predicted, std::string_view reference) {
    const auto p = parse_numeric_answer(predicted);
    const auto r = parse_numeric_answer(reference);
    if (!p || !r) return false;
    for (double pv : candidates(*p)) {
        for (double rv : candidates(*r)) {
            if (is_integral(pv) && is_integral(rv)) {
                if (std::llround(pv) == std::llround(rv)) return true;
                continue;
            }
            if (std::fabs(pv - rv) / (std::min(std::fabs(pv), std::fabs(rv)) + 1e-6) < 0.01) return true;
        }
    }
    return false;
}

bool aime_equal(std::string_view predicted, std::string_view reference) {
    const auto p = parse_numeric_answer(predicted);
    const auto r = parse_numeric_answer(reference);
    if (!p || !r || p->percent || !is_integral(p->value) || !is_integral(r->value)) return false;
    return std::llround(p->value) == std::llround(r->value);
}

namespace {

bool scalar_equal(const std::string& a, const std::string& b) {
    if (a == b) return true;
    if (a.empty() || b.empty()) return false;
    return expressions_equal(a, b, 1e-6);
}

// Cells of \begin{pmatrix} a \\ b \end{pmatrix} (also bmatrix), row-major; nullopt if not one.
std::optional<std::vector<std::string>> matrix_cells(const std::string& s) {
    for (std::string_view env : {"pmatrix", "bmatrix"}) {
        const std::string begin = "\\begin{" + std::string(env) + "}", end = "\\end{" + std::string(env) + "}";
        if (starts_with(s, begin) && ends_with(s, end)) {
            std::string body = s.substr(begin.size(), s.size() - begin.size() - end.size());
            body = replace_all(body, "\\\\", "&");
            std::vector<std::string> cells;
            for (auto& c : split_top_level(body, "&")) cells.push_back(c);
            return cells;
        }
    }
    return std::nullopt;
}

bool elements_equal(const std::vector<std::string>& a, const std::vector<std::string>& b, bool ordered) {
    if (a.size() != b.size()) return false;
    if (ordered) {
        for (size_t i = 0; i < a.size(); ++i)
            if (!scalar_equal(a[i], b[i])) return false;
        return true;
    }
    std::vector<bool> used(b.size(), false);
    for (const auto& x : a) {
        bool matched = false;
        for (size_t j = 0; j < b.size() && !matched; ++j)
            if (!used[j] && scalar_equal(x, b[j])) used[j] = matched = true;
        if (!matched) return false;
    }
    return true;
}

bool normalized_equal(const std::string& a, const std::string& b) {
    if (a == b) return true;
    if (a.empty() || b.empty()) return false;
    if (auto mb = matrix_cells(b)) {
        const auto ma = matrix_cells(a);
        return ma && elements_equal(*ma, *mb, true);
    }
    // Unions of intervals, piece by piece.
    const auto ub = split_top_level(b, "\\cup");
    if (ub.size() > 1) {
        const auto ua = split_top_level(a, "\\cup");
        if (ua.size() != ub.size()) return false;
        for (size_t i = 0; i < ub.size(); ++i)
            if (!normalized_equal(ua[i], ub[i])) return false;
        return true;
    }
    // Tuples and intervals: same brackets, element by element.
    const bool b_bracketed = b.size() >= 2 && (b.front() == '(' || b.front() == '[') && (b.back() == ')' || b.back() == ']');
    if (b_bracketed) {
        const auto inner_b = split_top_level(std::string_view(b).substr(1, b.size() - 2));
        if (inner_b.size() > 1) {
            if (a.size() < 2 || a.front() != b.front() || a.back() != b.back()) return false;
            const auto inner_a = split_top_level(std::string_view(a).substr(1, a.size() - 2));
            return elements_equal(inner_a, inner_b, true);
        }
    }
    // Sets "\{1,2\}" and bare lists "1,-2": any order.
    auto unset = [](const std::string& s) {
        if (starts_with(s, "\\{") && ends_with(s, "\\}")) return s.substr(2, s.size() - 4);
        return s;
    };
    const std::string sb = unset(b), sa = unset(a);
    const auto lb = split_top_level(sb);
    if (lb.size() > 1) return elements_equal(split_top_level(sa), lb, false);
    return scalar_equal(a, b);
}

}  // namespace

bool math500_equal(std::string_view predicted, std::string_view reference) {
    if (trim(predicted).empty()) return false;
    return normalized_equal(normalize_math_answer(predicted), normalize_math_answer(reference));
}

}  // namespace retort::eval
