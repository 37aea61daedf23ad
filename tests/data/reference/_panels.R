## Read the bundled panels (cigar, produc) sorted time-major (year, then W's unit order), and
## their row-standardised W built from the bundled binary matrices.
suppressPackageStartupMessages({library(spdep)})

read_binary_W <- function(path) {
  B <- as.matrix(read.csv(path, row.names = 1, check.names = FALSE))
  stopifnot(all(B == t(B)), all(diag(B) == 0), identical(rownames(B), colnames(B)))
  B
}

load_panel <- function(name) {
  dd <- file.path("bayes_sdm/datasets/data", name)
  if (name == "cigar") {
    d <- read.csv(file.path(dd, "cigar_panel.csv"))
    B <- read_binary_W(file.path(dd, "usa46_W_binary.csv"))
    d$unit <- d$state_name
    y <- "logc"; x <- c("logp", "logy")
  } else if (name == "produc") {
    d <- read.csv(file.path(dd, "produc_model.csv"))
    B <- read_binary_W(file.path(dd, "usaww_W_binary.csv"))
    d$unit <- d$state
    y <- "lgsp"; x <- c("lpcap", "lpc", "lemp", "unemp")
  } else stop("unknown panel")
  units <- rownames(B)
  stopifnot(setequal(units, unique(d$unit)))
  d$uid <- match(d$unit, units)
  d <- d[order(d$year, d$uid), ]
  rownames(d) <- NULL
  N <- length(units); T <- length(unique(d$year))
  stopifnot(nrow(d) == N * T, all(d$uid == rep(1:N, T)))
  list(data = d, B = B, N = N, T = T, y = y, x = x, units = units)
}

## block-diagonal I_T (x) W as a listw (row-standardised binary kronecker pattern)
kron_listw <- function(B, T) {
  BT <- kronecker(diag(T), B)
  nb2listw(mat2listw(BT, style = "B")$neighbours, style = "W")
}
