"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('name', name=op.f('uq_projects_name'))
    )
    op.create_table('suites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('budget_s', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_suites_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suites')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_suites_project_id'))
    )
    op.create_table('tests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('nodeid', sa.Text(), nullable=False),
    sa.Column('file', sa.Text(), nullable=True),
    sa.Column('classname', sa.Text(), nullable=True),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('markers', sa.JSON(), nullable=False),
    sa.Column('first_seen_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_tests_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tests')),
    sa.UniqueConstraint('project_id', 'nodeid', name=op.f('uq_tests_project_id'))
    )
    op.create_table('upload_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_upload_tokens_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upload_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_upload_tokens_token_hash'))
    )
    op.create_table('runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('suite_id', sa.Integer(), nullable=False),
    sa.Column('branch', sa.String(length=300), nullable=True),
    sa.Column('commit', sa.String(length=64), nullable=True),
    sa.Column('build_id', sa.String(length=200), nullable=True),
    sa.Column('build_url', sa.String(length=2000), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('test_time_s', sa.Float(), nullable=False),
    sa.Column('setup_time_s', sa.Float(), nullable=True),
    sa.Column('call_time_s', sa.Float(), nullable=True),
    sa.Column('teardown_time_s', sa.Float(), nullable=True),
    sa.Column('environment', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('formats', sa.String(length=200), nullable=False),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('random_seed', sa.String(length=100), nullable=True),
    sa.Column('workers', sa.Integer(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(), nullable=False),
    sa.Column('tests', sa.Integer(), nullable=False),
    sa.Column('passed', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('xfailed', sa.Integer(), nullable=False),
    sa.Column('xpassed', sa.Integer(), nullable=False),
    sa.Column('reruns', sa.Integer(), nullable=False),
    sa.Column('rerun_passed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_runs_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['suite_id'], ['suites.id'], name=op.f('fk_runs_suite_id_suites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runs')),
    sa.UniqueConstraint('suite_id', 'content_hash', name=op.f('uq_runs_suite_id'))
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_commit'), ['commit'], unique=False)
        batch_op.create_index('ix_runs_project_started', ['project_id', 'started_at'], unique=False)
        batch_op.create_index('ix_runs_suite_started', ['suite_id', 'started_at'], unique=False)

    op.create_table('results',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('test_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('setup_s', sa.Float(), nullable=True),
    sa.Column('call_s', sa.Float(), nullable=True),
    sa.Column('teardown_s', sa.Float(), nullable=True),
    sa.Column('order_index', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.String(length=50), nullable=True),
    sa.Column('start_ts', sa.Float(), nullable=True),
    sa.Column('stop_ts', sa.Float(), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('final', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_results_run_id_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['test_id'], ['tests.id'], name=op.f('fk_results_test_id_tests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_results'))
    )
    with op.batch_alter_table('results', schema=None) as batch_op:
        batch_op.create_index('ix_results_run_order', ['run_id', 'order_index'], unique=False)
        batch_op.create_index('ix_results_test_run', ['test_id', 'run_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('results', schema=None) as batch_op:
        batch_op.drop_index('ix_results_test_run')
        batch_op.drop_index('ix_results_run_order')

    op.drop_table('results')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_suite_started')
        batch_op.drop_index('ix_runs_project_started')
        batch_op.drop_index(batch_op.f('ix_runs_commit'))

    op.drop_table('runs')
    op.drop_table('upload_tokens')
    op.drop_table('tests')
    op.drop_table('suites')
    op.drop_table('projects')
