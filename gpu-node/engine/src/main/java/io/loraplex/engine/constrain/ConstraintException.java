package io.loraplex.engine.constrain;

/**
 * A schema or pattern the constraint compiler does not support or cannot read, naming the keyword
 * at fault ({@code minLength}, {@code pattern}) and where it sits in the schema ({@code $.properties.age}).
 */
public final class ConstraintException extends IllegalArgumentException {

    private final String keyword;

    public ConstraintException(String keyword, String message) {
        super(message);
        this.keyword = keyword;
    }

    /** The schema keyword at fault, as written in the schema. */
    public String keyword() {
        return keyword;
    }
}
