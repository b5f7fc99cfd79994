//! All integration tests, in one binary (one link, shared harness).

mod harness;

mod accounts;
mod alerts;
mod assessments;
mod audit;
mod auth;
mod axe;
mod browser;
mod cases;
mod cli;
mod console;
mod contract;
mod crypto;
mod escalation;
mod faults;
mod form;
mod grants;
mod http_basics;
mod intake;
mod jwt_attacks;
mod layers;
mod mfa;
mod migrations;
mod openapi;
mod pages;
mod plans;
mod relocation;
mod routes;
mod smtp;
mod webdriver;
