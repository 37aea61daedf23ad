## Minimal JSON writer for flat reference files: numbers at %.17g (round-trip exact),
## strings quoted, one nested 'provenance' object of strings.
jstr <- function(s) {
  s <- gsub("\\\\", "\\\\\\\\", s)
  s <- gsub("\"", "\\\\\"", s)
  s <- gsub("\n", "\\\\n", s)
  paste0("\"", s, "\"")
}
jnum <- function(x) {
  if (is.na(x)) return("null")
  if (is.infinite(x)) return("null")
  v <- sprintf("%.17g", x)
  if (!grepl("[.eE]", v)) v <- paste0(v, ".0")
  v
}
jval <- function(v) {
  if (is.character(v)) return(jstr(v))
  if (is.logical(v)) return(if (v) "true" else "false")
  if (is.numeric(v)) return(jnum(as.numeric(v)))
  stop("unsupported value")
}
write_flat_json <- function(values, provenance, path) {
  stopifnot(!any(duplicated(names(values))))
  empty <- vapply(values, length, 1L) != 1L
  if (any(empty)) {
    message("dropping values that are not scalars: ", paste(names(values)[empty], collapse = ", "))
    values <- values[!empty]
  }
  lines <- c("{", "  \"provenance\": {")
  pn <- names(provenance)
  for (i in seq_along(provenance)) {
    sep <- if (i < length(provenance)) "," else ""
    lines <- c(lines, paste0("    ", jstr(pn[i]), ": ", jval(provenance[[i]]), sep))
  }
  lines <- c(lines, if (length(values)) "  }," else "  }")
  vn <- names(values)
  for (i in seq_along(values)) {
    sep <- if (i < length(values)) "," else ""
    lines <- c(lines, paste0("  ", jstr(vn[i]), ": ", jval(values[[i]]), sep))
  }
  lines <- c(lines, "}")
  writeLines(lines, path)
  invisible(path)
}
r_versions <- function(pkgs) {
  v <- c(R = paste0(R.version$major, ".", R.version$minor))
  for (p in pkgs) v[p] <- as.character(packageVersion(p))
  paste(paste(names(v), v, sep = " "), collapse = "; ")
}
