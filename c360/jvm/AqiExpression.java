package c360.aqi;

import java.util.Objects;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.codegen.CodeBlock;
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenContext;
import org.apache.spark.sql.catalyst.expressions.codegen.ExprCode;
import org.apache.spark.sql.catalyst.expressions.codegen.FalseLiteral$;
import org.apache.spark.sql.catalyst.expressions.codegen.JavaCode;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import scala.Function1;
import scala.collection.immutable.IndexedSeq;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/**
 * {@link AqiKernel} as an expression of Spark's plans: {@code c360_aqi_<digest>(field, ...)}, one
 * argument per field of the standard, in its order.
 *
 * <p>A Java UDF would hand the kernel each record as a {@code Row} (every text copied out of
 * Spark's row into a byte array, a row object made around them) and convert its result back,
 * field by field, through Spark's generic converters. As an expression the kernel is part of the
 * whole-stage code Spark generates: that code passes the fields' values as Spark holds them (a
 * text's {@code UTF8String}, a double, a decimal) and takes the result as Spark's own row. There
 * is nothing to convert either way (docs/benchmarks.md, "AQI calculator").
 */
public final class AqiExpression extends Expression implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    private final Seq<Expression> fields;
    private final AqiKernel kernel;
    private final DataType type;

    public AqiExpression(Seq<Expression> fields, AqiKernel kernel, DataType type) {
        if (fields.size() != kernel.fields()) {
            throw new IllegalArgumentException(
                    "the AQI kernel takes " + kernel.fields() + " fields, not " + fields.size());
        }
        this.fields = fields;
        this.kernel = kernel;
        this.type = type;
    }

    /**
     * Registers a kernel of {@code spec} (c360.aqi.spark.jvm_spec) as the session's function
     * {@code name}, returning {@code returnType} (JSON).
     */
    public static void register(SparkSession spark, String name, String spec, String returnType)
            throws java.io.IOException {
        AqiKernel kernel = new AqiKernel(spec);
        DataType type = DataType.fromJson(returnType);
        Function1<Seq<Expression>, Expression> builder = args -> new AqiExpression(args, kernel, type);
        ((org.apache.spark.sql.classic.SparkSession) spark).sessionState().functionRegistry()
                .createOrReplaceTempFunction(name, builder, "java_udf");
    }

    @Override
    public String prettyName() {
        return "c360_aqi";
    }

    /** What the plan shows of it: its fields (its kernel and result type are the function's name). */
    @Override
    @SuppressWarnings({"unchecked", "rawtypes"})
    public scala.collection.Iterator<Object> stringArgs() {
        return (scala.collection.Iterator) fields.iterator();
    }

    @Override
    public Seq<Expression> children() {
        return fields;
    }

    @Override
    public Expression withNewChildrenInternal(IndexedSeq<Expression> newChildren) {
        return new AqiExpression(newChildren, kernel, type);
    }

    @Override
    public boolean nullable() {
        return false;
    }

    @Override
    public DataType dataType() {
        return type;
    }

    @Override
    public Object eval(InternalRow input) {
        Object[] values = new Object[fields.size()];
        for (int f = 0; f < values.length; f++) {
            values[f] = fields.apply(f).eval(input);
        }
        return kernel.evaluate(values);
    }

    @Override
    public ExprCode doGenCode(CodegenContext ctx, ExprCode ev) {
        int n = fields.size();
        String values = ctx.addMutableState("Object[]", "aqiValues", v -> v + " = new Object[" + n + "];", false, true);
        String kernelRef = ctx.addReferenceObj("aqiKernel", kernel, AqiKernel.class.getName());
        StringBuilder code = new StringBuilder();
        for (int f = 0; f < n; f++) {
            Expression field = fields.apply(f);
            ExprCode value = field.genCode(ctx);
            code.append(value.code()).append('\n');
            String boxed = field.dataType().equals(DataTypes.DoubleType)
                    ? "Double.valueOf(" + value.value() + ")" : "(Object) " + value.value();
            code.append(values).append('[').append(f).append("] = ").append(value.isNull())
                    .append(" ? null : ").append(boxed).append(";\n");
        }
        code.append("InternalRow ").append(ev.value()).append(" = ").append(kernelRef)
                .append(".evaluate(").append(values).append(");\n");
        CodeBlock block = new CodeBlock(
                CollectionConverters.asScala(java.util.List.of(code.toString())).toList(),
                CollectionConverters.asScala(java.util.List.<JavaCode>of()).toList());
        return ev.copy(block, FalseLiteral$.MODULE$, ev.value());
    }

    @Override
    public int productArity() {
        return 3;
    }

    @Override
    public Object productElement(int n) {
        switch (n) {
            case 0:
                return fields;
            case 1:
                return kernel;
            case 2:
                return type;
            default:
                throw new IndexOutOfBoundsException(String.valueOf(n));
        }
    }

    @Override
    public boolean canEqual(Object other) {
        return other instanceof AqiExpression;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof AqiExpression)) {
            return false;
        }
        AqiExpression that = (AqiExpression) other;
        return kernel == that.kernel && fields.equals(that.fields) && type.equals(that.type);
    }

    @Override
    public int hashCode() {
        return Objects.hash(fields, System.identityHashCode(kernel), type);
    }
}
