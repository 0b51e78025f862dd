package c360.aqi;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.catalyst.util.ArrayBasedMapData;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.apache.spark.sql.types.Decimal;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * The AQI of a wide record in the JVM: c360's integer kernel (c360/aqi/kernel.py) for Spark
 * tasks, with no Python worker and no Arrow transfer.
 *
 * <p>The standard arrives as a JSON spec that c360.aqi.spark builds from the same tables and
 * texts the Python kernel uses, so nothing of a standard is written here: breakpoints as scaled
 * longs, rounding, the above-range rules, categories, and every note and error entry. A value
 * is read as the Python kernel reads it: a plain number (up to 9 integer digits and 20
 * decimals) as {@code floor(x * 10**9)} in a long, anything else by the decimal path's rule
 * ({@code c360.aqi.validate.parse_number}, whose patterns the spec carries), exactly with
 * {@link BigDecimal}. The TAD's equation is then exact long arithmetic. tests/aqi holds this
 * path equal to every other on the same random records, invalid ones included.
 *
 * <p>The input is the values of the standard's fields in its order, as Spark holds them (an absent
 * field as null): a text as its {@link UTF8String}, whose UTF-8 bytes a plain number is read from
 * with no Java string made, a double or a decimal as itself, read as the Python kernel reads a
 * float64 or a decimal128 column. The output is the result struct of
 * c360.aqi.core.RESULT_FIELDS as Spark's own row ({@link AqiExpression} puts the kernel in
 * Spark's plans): texts as {@link UTF8String}, and the lists of notes, errors and dominant
 * pollutants, which records share, made once per combination.
 */
public class AqiKernel implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private static final long SCALE = 1_000_000_000L; // plain numbers: floor(x * 10**9)
    private static final BigDecimal RAW_LIMIT = new BigDecimal("1e10");
    private static final BigDecimal MAX_VALUE = new BigDecimal("1e9");
    private static final double FLOAT_GRID_LIMIT = 1e6; // below it, a double on the 1e-9 grid has at most 15 digits
    private static final RoundingMode[] SHORTEST_MODES = {
        RoundingMode.HALF_EVEN, RoundingMode.FLOOR, RoundingMode.CEILING};
    private static final int INPUT_SCALE = 20;
    // y // TRUNCATE[d] = floor(x * 10**d) for the y of a plain number
    private static final long[] TRUNCATE = {1_000_000_000L, 100_000_000L, 10_000_000L, 1_000_000L, 100_000L, 10_000L,
        1_000L, 100L, 10L, 1L};
    // Error kinds by code, as the Python kernel numbers them (c360.aqi.kernel.KINDS).
    private static final int EMPTY = 1, NON_NUMERIC = 2, NOT_FINITE = 3, NEGATIVE = 4, OUT_OF_RANGE = 5;
    // Note codes (c360.aqi.kernel.NOTE_KINDS); PENDING: above a deferring field's table.
    private static final int BELOW = 1, CAPPED = 2, DEFERRED = 3, FALLBACK = 4, ABOVE_RANGE = 5, PENDING = 99;
    private static final ArrayData NONE = new GenericArrayData(new Object[0]);
    private static final int CODE_BITS = 3; // error codes 0-7, note codes 0-5
    private static final int MAX_FIELDS = 20; // keys of CODE_BITS per field and one bit fit a long
    private static final int LISTS = 256; // slots of note or error lists kept per kernel (a power of two)

    private final int fields;
    private final int[] decimals;
    private final long[][] lo, hi, ilo, ihi;
    private final int[] above; // 0 extrapolate, 1 cap, 2 defer
    private final int[] deferTo; // field position, -1: none
    private final long[] fallback; // -1: none
    private final int[] order; // evaluation order of the field positions
    private final int[] pollutantOf; // field position -> pollutant position
    private final UTF8String[] fieldNames, pollutantNames;
    private final long[] categoryHigh; // Long.MAX_VALUE: the open top
    private final UTF8String[] categoryName, categoryColor;
    private final boolean halfUp;
    private final long indexTop, dominantAbove; // dominantAbove -1: every AQI
    private final InternalRow[][] notes, errors; // [field][code] entries
    private final InternalRow beyond, noPollutants;
    private final UTF8String ok = UTF8String.fromString("ok"), invalid = UTF8String.fromString("invalid");
    private final Pattern number, nonFinite, negative;
    private final ArrayData[] dominantLists;
    private final ArrayData[] keyLists; // the sub-indices' keys, by the mask of fields that have one
    private final Made[] noteLists = new Made[LISTS], errorLists = new Made[LISTS];

    public AqiKernel(String spec) throws java.io.IOException {
        JsonNode s = new ObjectMapper().readTree(spec);
        JsonNode fs = s.get("fields");
        fields = fs.size();
        if (fields > MAX_FIELDS) {
            throw new IllegalArgumentException("the JVM kernel takes at most " + MAX_FIELDS + " fields, not " + fields);
        }
        decimals = new int[fields];
        lo = new long[fields][];
        hi = new long[fields][];
        ilo = new long[fields][];
        ihi = new long[fields][];
        above = new int[fields];
        deferTo = new int[fields];
        fallback = new long[fields];
        pollutantOf = new int[fields];
        fieldNames = new UTF8String[fields];
        notes = new InternalRow[fields][];
        errors = new InternalRow[fields][];
        for (int f = 0; f < fields; f++) {
            JsonNode t = fs.get(f);
            fieldNames[f] = UTF8String.fromString(t.get("name").asText());
            decimals[f] = t.get("decimals").asInt();
            if (decimals[f] < 0 || decimals[f] >= TRUNCATE.length) {
                throw new IllegalArgumentException(t.get("name").asText() + ": decimals must be 0-9");
            }
            lo[f] = longs(t.get("c_low"));
            hi[f] = longs(t.get("c_high"));
            ilo[f] = longs(t.get("i_low"));
            ihi[f] = longs(t.get("i_high"));
            above[f] = t.get("above").asInt();
            deferTo[f] = t.get("defer_to").asInt();
            fallback[f] = t.get("fallback").asLong();
            pollutantOf[f] = t.get("pollutant").asInt();
            notes[f] = entries(t.get("notes"));
            errors[f] = entries(t.get("errors"));
        }
        order = new int[fields];
        for (int i = 0; i < fields; i++) {
            order[i] = s.get("order").get(i).asInt();
        }
        pollutantNames = texts(s.get("pollutants"));
        dominantLists = new ArrayData[pollutantNames.length <= 12 ? 1 << pollutantNames.length : 0];
        keyLists = new ArrayData[fields <= 12 ? 1 << fields : 0];
        JsonNode cats = s.get("categories");
        categoryHigh = new long[cats.size()];
        categoryName = new UTF8String[cats.size()];
        categoryColor = new UTF8String[cats.size()];
        for (int c = 0; c < cats.size(); c++) {
            JsonNode cat = cats.get(c);
            categoryHigh[c] = cat.get("high").isNull() ? Long.MAX_VALUE : cat.get("high").asLong();
            categoryName[c] = UTF8String.fromString(cat.get("name").asText());
            categoryColor[c] = UTF8String.fromString(cat.get("color").asText());
        }
        halfUp = s.get("rounding").asText().equals("half_up");
        indexTop = s.get("index_top").asLong();
        dominantAbove = s.get("dominant_above").isNull() ? -1 : s.get("dominant_above").asLong();
        beyond = entry(s.get("beyond"));
        noPollutants = entry(s.get("no_pollutants"));
        // UNIX_LINES: "$" before a final "\n" only, as in Python's re; UNICODE_CASE: as re.IGNORECASE on str.
        number = Pattern.compile(s.get("number_pattern").asText(), Pattern.UNIX_LINES);
        nonFinite = Pattern.compile(s.get("non_finite_pattern").asText(),
                Pattern.UNIX_LINES | Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);
        negative = Pattern.compile(s.get("negative_pattern").asText(), Pattern.UNIX_LINES);
    }

    private static long[] longs(JsonNode array) {
        long[] out = new long[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asLong();
        }
        return out;
    }

    private static UTF8String[] texts(JsonNode array) {
        UTF8String[] out = new UTF8String[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = UTF8String.fromString(array.get(i).asText());
        }
        return out;
    }

    private static InternalRow entry(JsonNode e) {
        if (e.isNull()) {
            return null;
        }
        Object field = e.get(0).isNull() ? null : UTF8String.fromString(e.get(0).asText());
        return new GenericInternalRow(new Object[] {
            field, UTF8String.fromString(e.get(1).asText()), UTF8String.fromString(e.get(2).asText())});
    }

    private static InternalRow[] entries(JsonNode codes) {
        InternalRow[] out = new InternalRow[codes.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = entry(codes.get(i));
        }
        return out;
    }

    /** The number of fields a record has: the length of {@link #evaluate}'s values. */
    public int fields() {
        return fields;
    }

    /** A record's result struct, from its fields' values in the standard's order (null: absent). */
    public InternalRow evaluate(Object[] values) {
        long[] t = new long[fields];
        int[] kind = new int[fields];
        boolean[] has = new boolean[fields];
        for (int f = 0; f < fields; f++) {
            Object value = values[f];
            if (value instanceof UTF8String) {
                read(((UTF8String) value).getBytes(), f, t, kind, has); // a whole array's bytes: not copied
            } else if (value instanceof byte[]) {
                read((byte[]) value, f, t, kind, has);
            } else if (value instanceof Double) {
                readDouble((Double) value, f, t, kind, has);
            } else if (value instanceof Decimal) {
                readDecimal(((Decimal) value).toJavaBigDecimal(), f, t, kind, has);
            } else if (value instanceof BigDecimal) {
                readDecimal((BigDecimal) value, f, t, kind, has);
            } else if (value != null) {
                throw new IllegalArgumentException(
                        "the AQI kernel reads texts, doubles and decimals, not " + value.getClass());
            }
        }
        long[] sub = new long[fields];
        int[] note = new int[fields];
        boolean anyValue = false, anyError = false;
        for (int f : order) {
            sub[f] = -1;
            if (!has[f]) {
                anyError |= kind[f] != 0;
                continue;
            }
            anyValue = true;
            index(f, t[f], sub, note);
            if (note[f] == PENDING) {
                if (sub[deferTo[f]] >= 0) {
                    note[f] = DEFERRED;
                } else if (fallback[f] >= 0) {
                    sub[f] = fallback[f];
                    note[f] = FALLBACK;
                } else {
                    note[f] = ABOVE_RANGE;
                }
            }
        }
        long[] byPollutant = new long[pollutantNames.length];
        java.util.Arrays.fill(byPollutant, -1);
        for (int f = 0; f < fields; f++) {
            byPollutant[pollutantOf[f]] = Math.max(byPollutant[pollutantOf[f]], sub[f]);
        }
        long aqi = -1;
        for (long p : byPollutant) {
            aqi = Math.max(aqi, p);
        }
        return result(aqi, byPollutant, sub, note, kind, !anyValue && !anyError);
    }

    private InternalRow result(long aqi, long[] byPollutant, long[] sub, int[] note, int[] kind, boolean noValues) {
        Object category = null, color = null;
        if (aqi >= 0) {
            int c = 0;
            while (categoryHigh[c] < aqi) {
                c++;
            }
            category = categoryName[c];
            color = categoryColor[c];
        }
        int dominant = 0;
        if (aqi >= 0 && aqi > dominantAbove) {
            for (int p = 0; p < byPollutant.length; p++) {
                if (byPollutant[p] == aqi) {
                    dominant |= 1 << p;
                }
            }
        }
        long noteKey = aqi > indexTop ? 1 : 0, errorKey = noValues ? 1 : 0;
        int present = 0, withIndex = 0;
        for (int f = 0; f < fields; f++) {
            noteKey = noteKey << CODE_BITS | note[f];
            errorKey = errorKey << CODE_BITS | kind[f];
            if (sub[f] >= 0) {
                present |= 1 << f;
                withIndex++;
            }
        }
        long[] values = new long[withIndex];
        for (int f = 0, i = 0; f < fields; f++) {
            if (sub[f] >= 0) {
                values[i++] = sub[f];
            }
        }
        boolean isInvalid = aqi < 0 && (errorKey != 0);
        return new GenericInternalRow(new Object[] {
            aqi >= 0 ? (Object) aqi : null, category, color, dominantList(dominant),
            new ArrayBasedMapData(keyList(present), UnsafeArrayData.fromPrimitiveArray(values)),
            entryList(noteKey, note, notes, aqi > indexTop ? beyond : null, noteLists),
            entryList(errorKey, kind, errors, noValues ? noPollutants : null, errorLists),
            isInvalid ? invalid : ok});
    }

    /** The dominant pollutants of a mask of pollutant positions, made once per mask. */
    private ArrayData dominantList(int mask) {
        return named(pollutantNames, mask, dominantLists);
    }

    /** The names of the fields of a mask of field positions (the sub-indices' keys), made once per mask. */
    private ArrayData keyList(int mask) {
        return named(fieldNames, mask, keyLists);
    }

    /** The {@code names} picked by {@code mask}, kept in {@code made} when it has a slot for the mask. */
    private static ArrayData named(UTF8String[] names, int mask, ArrayData[] made) {
        ArrayData list = mask < made.length ? made[mask] : null;
        if (list == null) {
            list = new GenericArrayData(pick(names, mask));
            if (mask < made.length) {
                made[mask] = list; // a race writes an equal list
            }
        }
        return list;
    }

    private static Object[] pick(UTF8String[] names, int mask) {
        Object[] picked = new Object[Integer.bitCount(mask)];
        for (int p = 0, i = 0; p < names.length; p++) {
            if ((mask >> p & 1) != 0) {
                picked[i++] = names[p];
            }
        }
        return picked;
    }

    /**
     * A record's notes or errors: each field's entry of its code, in field order, then the record's own
     * ({@code last}). Records share few combinations of codes, so the list is kept by its {@code key}
     * (every field's code and whether {@code last} applies) in a small table of {@code made}, one slot
     * per key's hash, a later key replacing an earlier one. A slot is one immutable object: a task that
     * reads it sees a key and its own list, whichever task wrote it.
     */
    private static ArrayData entryList(long key, int[] codes, InternalRow[][] entries, InternalRow last, Made[] made) {
        if (key == 0) {
            return NONE;
        }
        int slot = Long.hashCode(key * 0x9E3779B97F4A7C15L) & (made.length - 1);
        Made known = made[slot];
        if (known != null && known.key == key) {
            return known.list;
        }
        List<Object> items = new ArrayList<>();
        for (int f = 0; f < codes.length; f++) {
            if (codes[f] > 0 && entries[f][codes[f]] != null) {
                items.add(entries[f][codes[f]]);
            }
        }
        if (last != null) {
            items.add(last);
        }
        ArrayData list = new GenericArrayData(items.toArray());
        made[slot] = new Made(key, list);
        return list;
    }

    /** One list of {@link #entryList} and its key (serializable, as the kernel that holds it must be). */
    private static final class Made implements java.io.Serializable {
        private static final long serialVersionUID = 1L;

        final long key;
        final ArrayData list;

        Made(long key, ArrayData list) {
            this.key = key;
            this.list = list;
        }
    }

    /** Sub-index and note of field {@code f} at truncated concentration {@code t} (c360.aqi.kernel._table_index). */
    private void index(int f, long t, long[] sub, int[] note) {
        long[] l = lo[f], h = hi[f], il = ilo[f], ih = ihi[f];
        if (t < l[0]) {
            note[f] = BELOW;
            return;
        }
        int band = 0;
        while (band < h.length && h[band] < t) {
            band++;
        }
        if (band == h.length) {
            if (above[f] == 1) {
                sub[f] = ih[h.length - 1];
                note[f] = CAPPED;
                return;
            }
            if (above[f] == 2) {
                note[f] = PENDING;
                return;
            }
            band = h.length - 1; // extrapolated from the top band
        }
        long d = h[band] - l[band];
        long a = il[band] * d + (ih[band] - il[band]) * (t - l[band]);
        sub[f] = halfUp ? Math.floorDiv(2 * a + d, 2 * d) : -Math.floorDiv(-a, d);
    }

    /** Field {@code f}'s text (UTF-8) -> its truncated concentration or its error kind (kernel.field_values). */
    private void read(byte[] value, int f, long[] t, int[] kind, boolean[] has) {
        if (value == null) {
            return;
        }
        int start = 0, end = value.length;
        while (start < end && value[start] == ' ') {
            start++;
        }
        while (end > start && value[end - 1] == ' ') {
            end--;
        }
        long y = plain(value, start, end);
        if (y >= 0) { // at most 9 integer digits: below 1e9, never out of range
            t[f] = y / TRUNCATE[decimals[f]];
            has[f] = true;
            return;
        }
        String text = new String(value, start, end - start, StandardCharsets.UTF_8);
        if (text.isEmpty()) {
            kind[f] = EMPTY;
        } else if (nonFinite.matcher(text).find()) {
            kind[f] = NOT_FINITE;
        } else if (!number.matcher(text).find()) {
            kind[f] = NON_NUMERIC;
        } else if (negative.matcher(text).find()) {
            kind[f] = NEGATIVE;
        } else {
            // The pattern admits one trailing newline (Python's "$"), which Decimal ignores and BigDecimal refuses.
            exact(new BigDecimal(text.endsWith("\n") ? text.substring(0, text.length() - 1) : text), f, t, kind, has);
        }
    }

    /** A number read exactly, by parse_number's rules from its decimal value on (then field_values'). */
    private void exact(BigDecimal number, int f, long[] t, int[] kind, boolean[] has) {
        if (number.abs().compareTo(RAW_LIMIT) >= 0) {
            kind[f] = OUT_OF_RANGE;
            return;
        }
        BigDecimal n = number.setScale(INPUT_SCALE, RoundingMode.HALF_UP).abs();
        if (n.compareTo(MAX_VALUE) >= 0) { // also past DECIMAL(30, 20) once rounded: 1e10 > 1e9
            kind[f] = OUT_OF_RANGE;
            return;
        }
        t[f] = n.movePointRight(decimals[f]).setScale(0, RoundingMode.FLOOR).longValueExact();
        has[f] = true;
    }

    /**
     * A double, as the Python kernel reads one (c360.aqi.kernel._parse_float): through its shortest
     * repr, and without making it where the double's own arithmetic gives the same. For
     * {@code 0 <= d < 1e6}, with {@code p = d * 1e9} and {@code m = rint(p)}: if {@code m / 1e9 == d},
     * the repr's {@code floor(x * 10**9)} is {@code m}; otherwise it is {@code floor(p)} unless
     * {@code p} lies within its rounding error of an integer. Every other double (near an integer,
     * 1e6 or more, negative, NaN, infinite) takes {@link #shortest}. Java's doubles are IEEE's, as
     * NumPy's are, so each step gives the bits Python's does.
     */
    private void readDouble(double d, int f, long[] t, int[] kind, boolean[] has) {
        if (d >= 0 && d < FLOAT_GRID_LIMIT) { // NaN compares false
            double p = d * 1e9;
            double m = Math.rint(p);
            long y = -1;
            if (m / 1e9 == d) {
                y = (long) m;
            } else {
                double below = Math.floor(p);
                double frac = p - below;
                double margin = Math.max(4 * Math.ulp(p), 1e-9);
                if (frac > margin && 1 - frac > margin) {
                    y = (long) below;
                }
            }
            if (y >= 0) {
                t[f] = y / TRUNCATE[decimals[f]];
                has[f] = true;
                return;
            }
        }
        if (Double.isNaN(d) || Double.isInfinite(d)) {
            kind[f] = NOT_FINITE;
        } else if (d < 0) { // -0.0 was read above, as zero
            kind[f] = NEGATIVE;
        } else {
            exact(shortest(d), f, t, kind, has);
        }
    }

    /**
     * The value of Python's {@code repr(d)} for a finite positive double: the decimal of fewest
     * significant digits that reads back as {@code d}, the nearest to {@code d} of those (Java 17's
     * {@code Double.toString} is not always the shortest). A correctly rounded candidate can miss
     * where the double's neighbours are unevenly far (at a power of two), so both directed
     * roundings are tried too.
     */
    static BigDecimal shortest(double d) {
        BigDecimal value = new BigDecimal(d);
        for (int digits = 1; digits <= 17; digits++) {
            BigDecimal best = null;
            for (RoundingMode mode : SHORTEST_MODES) {
                BigDecimal candidate = value.round(new MathContext(digits, mode));
                if (candidate.doubleValue() == d && (best == null
                        || candidate.subtract(value).abs().compareTo(best.subtract(value).abs()) < 0)) {
                    best = candidate;
                }
            }
            if (best != null) {
                return best;
            }
        }
        return value; // unreachable: 17 significant digits read back as any double
    }

    /**
     * A decimal, as the Python kernel reads a decimal column (c360.aqi.kernel._parse_decimal): a
     * negative one (even -1e-20) is the error, one of 1e9 or more is out of range in the wide form,
     * and the rest is truncated, which is the floor of a positive number.
     */
    private void readDecimal(BigDecimal x, int f, long[] t, int[] kind, boolean[] has) {
        if (x.signum() < 0) {
            kind[f] = NEGATIVE;
        } else if (x.compareTo(MAX_VALUE) >= 0) {
            kind[f] = OUT_OF_RANGE;
        } else {
            t[f] = x.movePointRight(decimals[f]).setScale(0, RoundingMode.FLOOR).longValueExact();
            has[f] = true;
        }
    }

    /** {@code floor(x * 10**9)} of a plain number (1-9 digits, optionally a point and 0-20 more), else -1. */
    private static long plain(byte[] s, int start, int end) {
        long whole = 0, fraction = 0;
        int i = start;
        while (i < end && i - start <= 9 && s[i] >= '0' && s[i] <= '9') {
            whole = whole * 10 + (s[i] - '0');
            i++;
        }
        int digits = i - start;
        if (digits == 0 || digits > 9) {
            return -1;
        }
        if (i == end) {
            return whole * SCALE;
        }
        if (s[i] != '.' || end - i - 1 > 20) {
            return -1;
        }
        int place = 0;
        for (i++; i < end; i++, place++) {
            if (s[i] < '0' || s[i] > '9') {
                return -1;
            }
            if (place < 9) {
                fraction = fraction * 10 + (s[i] - '0');
            }
        }
        for (; place < 9; place++) {
            fraction *= 10;
        }
        return whole * SCALE + fraction;
    }
}
